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

_tool_tags := object.get(_tool_entry, "tags", [])

# The one walk over the arguments, shared by every argument rule and the
# redaction: each node (the root included) as [path, value].
_nodes := [node | walk(_arguments, node)]

_configured_path_keys := array.concat(_rules.path_keys, object.get(_tool_entry, "path_arguments", []))

# Path keys compare lower-cased. Lower-casing every configured key on every
# decision costs a builtin call per key, so when the configuration is already
# lower-case (one check over the joined list) the list is used as it is.
_configured_path_keys_lower if {
	joined := concat("\n", _configured_path_keys)
	joined == lower(joined)
}

_path_key(key) if {
	_configured_path_keys_lower
	key in _configured_path_keys
}

_path_key(key) if {
	not _configured_path_keys_lower
	key in {lower(configured) | some configured in _configured_path_keys}
}

# The innermost object key above a value (array indices skipped), lower-cased.
_key_of(path) := lower(last) if {
	last := path[count(path) - 1]
	is_string(last)
} else := lower(keys[count(keys) - 1]) if {
	keys := [key | some key in path; is_string(key)]
	count(keys) > 0
}

# The path values a path rule can fire on: suspicious ones (see _suspicious)
# and, for file tools, absolute ones. The value tests are one regex each, so
# they run before the key lookup.
_path_values contains value if {
	some [path, value] in _nodes
	is_string(value)
	_path_candidate(value)
	_path_key(_key_of(path))
}

_path_candidate(value) if _suspicious(value)

_path_candidate(value) if {
	"file" in _tool_tags
	_absolute(value)
}

_string_values contains value if {
	some [_, value] in _nodes
	is_string(value)
}

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

# Only a value with "..", "%", NUL or a non-ASCII character can climb
# directories or be obfuscated: dots come from ".", a percent-encoding or a
# look-alike (all non-ASCII). Everything else skips the decoding below.
_suspicious(value) if regex.match(`\.\.|[%\x00]|[^\x00-\x7f]`, value)

# METADATA
# description: A path that, once decoded and folded, climbs out of its directory.
path_traversal(value) if {
	_suspicious(value)
	regex.match(`(^|[/\\])\.{2,}([/\\;]|$)`, _normalized(value))
}

# METADATA
# scope: document
# description: |
#   A path or URI that still carries percent-escapes, a look-alike character
#   or a NUL after normalization cannot be compared to the allowed roots.
uri_obfuscated(value) if {
	_suspicious(value)
	regex.match(`%[0-9a-f]{2}|%u[0-9a-f]{4}|\x00`, lower(value))
}

# Folding changes the value exactly when it holds a look-alike: one call
# instead of a `contains` per look-alike.
uri_obfuscated(value) if {
	_suspicious(value)
	strings.replace_n(_lookalikes, value) != value
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

_arguments_json := json.marshal(_arguments)

# METADATA
# scope: document
# description: |
#   Whether the arguments pass every argument rule. Most calls are settled
#   without walking the arguments (see _arguments_plain); the others count
#   the violations.
arguments_pass if _arguments_plain

arguments_pass if {
	not _arguments_plain
	count(argument_violations) == 0
}

# Arguments no rule can object to, judged on the marshalled arguments alone:
# - no file/exec/sql tag, so only the path rules, size and depth apply;
# - the path rules need a value with "..", "%", NUL or a non-ASCII character
#   (see _suspicious); in JSON those show as themselves or as a \u escape;
# - a node at depth d sits below d containers, hence d opening brackets.
# Brackets, dots or escapes inside strings only send a call to the full check.
_arguments_plain if {
	not "file" in _tool_tags
	not "exec" in _tool_tags
	not "sql" in _tool_tags
	count(_arguments_json) <= _max_bytes

	# split, not strings.count: the WASM evaluator has no strings.count.
	(count(split(_arguments_json, "{")) + count(split(_arguments_json, "["))) - 2 <= _rules.max_depth
	not regex.match(`\.\.|%|\\u|[^\x01-\x7f]`, _arguments_json)
}

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
	some value in _string_values
	regex.match(_shell_metacharacters, value)
}

argument_violations contains _reason("argument_sql_stacking", "an argument of a SQL tool stacks statements") if {
	"sql" in _tool_tags
	some value in _string_values
	regex.match(_sql_stacking, value)
}

argument_violations contains _reason("arguments_too_large", "the arguments exceed the size limit") if {
	count(_arguments_json) > _max_bytes
}

argument_violations contains _reason("arguments_too_deep", "the arguments are nested too deeply") if {
	# A node at depth d comes with its d ancestors (the root included), so
	# arguments of at most max_depth nodes cannot exceed it: skip the scan.
	count(_nodes) > _rules.max_depth
	some [path, _] in _nodes
	count(path) > _rules.max_depth
}

## Obligations

_secret_key(key) if {
	is_string(key)
	normalized := replace(lower(key), "-", "_")
	some pattern in _rules.secret_key_patterns
	regex.match(pattern, normalized)
}

_secret_paths contains path if {
	some [path, _] in _nodes
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

# RFC 6901 JSON Pointer.
_pointer(path) := concat("/", array.concat([""], [_pointer_segment(segment) | some segment in path]))

# Keys escape ~ and / in one pass (RFC 6901 section 3: ~ first, then /, which
# a simultaneous replacement matches); array indices (walk paths hold integers
# for them) are written in decimal. An else chain: a string skips the number test.
_pointer_segment(segment) := strings.replace_n({"~": "~0", "/": "~1"}, segment) if {
	is_string(segment)
} else := format_int(segment, 10) if {
	is_number(segment)
}

default _replacement := null

_replacement := object.union(_arguments, _tool_entry.force_arguments)

# METADATA
# description: |
#   What the sidecar must do to the arguments, in this order: start from
#   `replace` when it is not null, drop the `drop` pointers, then overwrite the
#   `redact` pointers with `placeholder` (in the forwarded message and in audit).
obligations := {"arguments": {
	"replace": _replacement,
	"drop": sort([_pointer([key]) | some key in object.get(_tool_entry, "drop_arguments", []); key in object.keys(_arguments)]),
	"redact": sort([_pointer(path) | some path in _redact_paths]),
	"placeholder": _rules.redaction_placeholder,
}}
