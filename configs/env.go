package configs

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// expandEnv replaces ${NAME} in every value of the tree under n, as the
// package documentation says, and reports each unset variable.
func expandEnv(n *yaml.Node, job, key string, lookup func(string) (string, bool), p *problems) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			expandEnv(c, job, key, lookup, p)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if job == "" && key == "" && k.Value == "jobs" && v.Kind == yaml.SequenceNode {
				for j, item := range v.Content {
					expandEnv(item, jobLabel(item, j), "", lookup, p)
				}
				continue
			}
			expandEnv(v, job, joinKey(key, k.Value), lookup, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandEnv(c, job, fmt.Sprintf("%s[%d]", key, i), lookup, p)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := expand(n.Value, lookup)
		if err != nil {
			p.addEnv(n.Line, job, key, err)
			return
		}
		n.Value = v
		if n.Style == 0 {
			// A plain scalar is typed after expansion ("${CHUNK}" may be a
			// number), but an empty or null-like value stays a string.
			switch v {
			case "", "~", "null", "Null", "NULL":
				n.Tag = "!!str"
			default:
				n.Tag = ""
			}
		}
	}
	// Aliases share the node of their anchor, expanded where it stands.
}

// jobLabel names the job of node n, the i-th item of jobs, for messages:
// its name as written, or "#i+1" when it has none.
func jobLabel(n *yaml.Node, i int) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" && !strings.Contains(v.Value, "$") {
				return v.Value
			}
		}
	}
	return fmt.Sprintf("#%d", i+1)
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// expand replaces ${NAME} in s by the value of NAME and "$$" by "$". All
// unset variables of s are named in one error.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	var unset []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("\"${\" without a closing '}' (write \"$$\" for a literal '$')")
			}
			name := s[i+2 : i+2+end]
			if !isEnvName(name) {
				// The text is not shown: it may be part of a password.
				return "", fmt.Errorf("\"${\" starts no valid ${NAME}: NAME must be letters, digits and '_', not starting with a digit (write \"$$\" for a literal '$')")
			}
			v, ok := lookup(name)
			if !ok {
				unset = append(unset, name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	switch len(unset) {
	case 0:
		return b.String(), nil
	case 1:
		return "", fmt.Errorf("environment variable %s is not set", unset[0])
	default:
		return "", fmt.Errorf("environment variables %s are not set", strings.Join(unset, ", "))
	}
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
