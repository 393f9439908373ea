# SARK gateway argument rules and argument obligations
#
# Rules over tools/call and prompts/get arguments, at any nesting depth:
# path traversal (plain, percent-encoded, double-encoded, overlong UTF-8 and
# Unicode look-alikes), absolute paths outside the allowed roots for tools
# tagged `file`, shell metacharacters for tools tagged `exec`, statement
# stacking for tools tagged `sql`, and size and depth limits. Also the
# argument obligations: keys to drop, secret-looking keys to redact (before
# forwarding and before audit), and a replacement object for forced values.
package sark.gateway

_arguments := object.get(input, "arguments", {})

_rules := data.sark.argument_rules

# The catalogue entry of the called tool; {} for prompts and unknown tools, so
# that the generic rules below still apply.
default _tool_entry := {}

_tool_entry := _catalog[input.tool.name] if input.action == "gateway:tool:invoke"

_tool_tags := {tag | some tag in object.get(_tool_entry, "tags", [])}

_path_keys contains lower(key) if {
	some key in array.concat(_rules.path_keys, object.get(_tool_entry, "path_arguments", []))
}

_string_leaves contains [path, value] if {
	walk(_arguments, [path, value])
	is_string(value)
}

# The innermost object key above a value (array indices skipped), lower-cased.
_key_of(path) := lower(keys[count(keys) - 1]) if {
	keys := [key | some key in path; is_string(key)]
	count(keys) > 0
}

_path_values contains value if {
	some [path, value] in _string_leaves
	_key_of(path) in _path_keys
}

_all_values contains value if some [_, value] in _string_leaves

# Percent-encodings (case-folded first) and overlong UTF-8 forms of . / \.
_encodings := {
	"%2e": ".",
	"%2f": "/",
	"%5c": "\\",
	"%c0%ae": ".",
	"%c0%af": "/",
	"%c1%9c": "\\",
	"%e0%80%ae": ".",
	"%u002e": ".",
	"%u2215": "/",
	"%uff0e": ".",
	"%uff0f": "/",
}

# Characters that render like . / \ and that some decoders or file systems fold to them.
_lookalikes := {
	"․": ".", # U+2024 one dot leader
	"‥": "..", # U+2025 two dot leader
	"…": "...", # U+2026 horizontal ellipsis
	"﹒": ".", # U+FE52 small full stop
	"．": ".", # U+FF0E fullwidth full stop
	"。": ".", # U+3002 ideographic full stop
	"／": "/", # U+FF0F fullwidth solidus
	"∕": "/", # U+2215 division slash
	"⁄": "/", # U+2044 fraction slash
	"⧸": "/", # U+29F8 big solidus
	"＼": "\\", # U+FF3C fullwidth reverse solidus
	"⧵": "\\", # U+29F5 reverse solidus operator
	"﹨": "\\", # U+FE68 small reverse solidus
}

# Decodes up to two layers of percent-encoding, then folds look-alikes.
_normalized(value) := strings.replace_n(_lookalikes, strings.replace_n(_encodings, strings.replace_n({"%25": "%"}, lower(value))))

# METADATA
# description: A path that, once decoded and folded, climbs out of its directory.
path_traversal(value) if regex.match(`(^|[/\\])\.{2,}([/\\;]|$)`, _normalized(value))

# METADATA
# scope: document
# description: |
#   A path or URI that still carries percent-escapes, a look-alike character
#   or a NUL after normalization cannot be compared to the allowed roots.
uri_obfuscated(value) if regex.match(`%[0-9a-f]{2}|%u[0-9a-f]{4}|\x00`, lower(value))

uri_obfuscated(value) if {
	some char, _ in _lookalikes
	contains(value, char)
}

uri_obfuscated(value) if path_traversal(value)

_absolute(value) if regex.match(`^([/\\~]|[A-Za-z]:)`, value)

_allowed_roots := object.get(_tool_entry, "allowed_roots", object.get(_server, "allowed_roots", []))

_under_root(value) if {
	some root in _allowed_roots
	value == root
}

_under_root(value) if {
	some root in _allowed_roots
	startswith(value, concat("", [trim_suffix(root, "/"), "/"]))
}

_shell_metacharacters := `[;&|$<>()\x60\\\r\n\x00]`

# A semicolon followed by anything but whitespace starts a second statement.
_sql_stacking := `;\s*\S`

_max_bytes := object.get(_tool_entry, "max_argument_bytes", _rules.max_bytes)

_depth := max([count(path) | walk(_arguments, [path, _])])

# METADATA
# scope: document
# description: Argument rule violations, as deny reasons.
argument_violations contains _reason("argument_path_traversal", "an argument climbs out of its directory") if {
	some value in _path_values
	path_traversal(value)
}

argument_violations contains _reason("argument_path_obfuscated", "a path argument is encoded or uses look-alike characters") if {
	some value in _path_values
	uri_obfuscated(value)
	not path_traversal(value)
}

argument_violations contains _reason("argument_path_outside_roots", "a path argument is outside the tool's allowed roots") if {
	"file" in _tool_tags
	some value in _path_values
	_absolute(value)
	not _under_root(value)
}

argument_violations contains _reason("argument_shell_metacharacters", "an argument of a command tool contains shell metacharacters") if {
	"exec" in _tool_tags
	some value in _all_values
	regex.match(_shell_metacharacters, value)
}

argument_violations contains _reason("argument_sql_stacking", "an argument of a SQL tool stacks statements") if {
	"sql" in _tool_tags
	some value in _all_values
	regex.match(_sql_stacking, value)
}

argument_violations contains _reason("arguments_too_large", "the arguments exceed the size limit") if {
	count(json.marshal(_arguments)) > _max_bytes
}

argument_violations contains _reason("arguments_too_deep", "the arguments are nested too deeply") if {
	_depth > _rules.max_depth
}

## Obligations

_secret_key(key) if {
	is_string(key)
	normalized := replace(lower(key), "-", "_")
	some pattern in _rules.secret_key_patterns
	regex.match(pattern, normalized)
}

_secret_paths contains path if {
	walk(_arguments, [path, _])
	count(path) > 0
	_secret_key(path[count(path) - 1])
}

# Only the outermost secret: redacting it covers everything beneath.
_redact_paths contains path if {
	some path in _secret_paths
	not _secret_ancestor(path)
}

_secret_ancestor(path) if {
	some i, _ in path
	i > 0
	array.slice(path, 0, i) in _secret_paths
}

_drop_paths contains [key] if {
	some key in object.get(_tool_entry, "drop_arguments", [])
	key in object.keys(_arguments)
}

# RFC 6901 JSON Pointer.
_pointer(path) := concat("", [sprintf("/%s", [replace(replace(sprintf("%v", [segment]), "~", "~0"), "/", "~1")]) | some segment in path])

default _replacement := null

_replacement := object.union(_arguments, _tool_entry.force_arguments)

# METADATA
# description: |
#   What the sidecar must do to the arguments, in this order: start from
#   `replace` when it is not null, drop the `drop` pointers, then overwrite the
#   `redact` pointers with `placeholder` (in the forwarded message and in audit).
obligations := {"arguments": {
	"replace": _replacement,
	"drop": sort([_pointer(path) | some path in _drop_paths]),
	"redact": sort([_pointer(path) | some path in _redact_paths]),
	"placeholder": _rules.redaction_placeholder,
}}
