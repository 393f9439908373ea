# SARK gateway: the allowed tools/call fast path
#
# Most messages are tool calls that every rule allows. Assembling their
# decision from the individual rules (allow, reasons, obligations, cache,
# audit, rate_limit and their helpers) costs a rule evaluation each, ~3 µs
# apiece in OPA's evaluator (opa/BENCH.md); this path settles such a call in
# one body over values bound once. It is undefined for every other message,
# for any call some rule denies and for arguments it cannot settle cheaply
# (anything that could hold an encoded or climbing path); those take
# _full_decision. gateway_call_test.rego holds the two equal on every test
# input, so a rule change not mirrored here fails as soon as a test input
# exercises it.
package sark.gateway

# METADATA
# description: |
#   The decision for a tools/call every rule allows; undefined otherwise. One
#   long body on purpose: each helper rule would cost ~3 µs on the hot path
#   (opa/BENCH.md).
_allowed_call := {
	"allow": true,
	"reasons": [],
	"obligations": {"arguments": {
		"replace": _call_replacement(entry, args),
		"drop": sort([_pointer([key]) | some key in object.get(entry, "drop_arguments", []); key in object.keys(args)]),
		"redact": sort([_pointer(path) | some path in secrets; not _call_secret_below(secrets, path)]),
		"placeholder": rules.redaction_placeholder,
	}},
	"visible_tools": null,
	"cache": _call_cache(critical),
	"audit": _call_audit(rank, ranks),
	"rate_limit": {
		"key": concat("|", ["tool", input.agent.id, server_id, name]),
		"limit": spec.limit,
		"window_seconds": spec.window_seconds,
	},
} if {
	input.action == "gateway:tool:invoke"

	# Registration, authentication, catalogue (server_admits, _catalog).
	server_id := input.server.id
	server := data.sark.servers[server_id]
	_call_admitted(server)
	name := input.tool.name
	entry := data.sark.tools[server_id][name]

	# Grants, ownership, explicit denies, sharing (tool_permitted).
	grants := [grant |
		some role in input.agent.roles
		some key in [server_id, "*"]
		grant := data.sark.roles[role].servers[key]
	]
	team := object.get(server, "owner_team", null)
	owner := [is_string(team), object.get(input.agent, "team", null) == team] == [true, true]
	_call_granted(owner, grants, name)
	denied := [pattern |
		some grant in grants
		some pattern in object.get(grant, "deny_tools", [])
		glob.match(pattern, [], name)
	]
	denied == []
	server_denied := [pattern | some pattern in object.get(server, "deny_tools", []); glob.match(pattern, [], name)]
	server_denied == []
	_call_shared(owner, team, object.get(server, "shared_tools", []), name)

	# Sensitivity: levels.rank(x) is ranks[x], else 0.
	ranks := data.sark.sensitivity.levels
	rank := max([
		object.get(ranks, [object.get(server, "sensitivity", "low")], 0),
		object.get(ranks, [object.get(entry, "sensitivity", data.sark.sensitivity.default_tool_sensitivity)], 0),
	])
	_call_trust(input.agent, ranks) >= rank
	critical := rank >= object.get(ranks, ["critical"], 0)
	not _call_blocked(critical)

	# Arguments (arguments_pass): the path rules only fire on a value with
	# "..", "%", NUL or a non-ASCII character; none of them in the marshalled
	# arguments (where NUL shows as a \u escape) rules those out, and a node at
	# depth d needs d opening brackets. Anything else goes to the full rules.
	args := object.get(input, "arguments", {})
	rules := data.sark.argument_rules
	marshalled := json.marshal(args)
	count(marshalled) <= object.get(entry, "max_argument_bytes", rules.max_bytes)
	(count(split(marshalled, "{")) + count(split(marshalled, "["))) - 2 <= rules.max_depth
	not regex.match(`\.\.|%|\\u|[^\x01-\x7f]`, marshalled)
	nodes := [node | walk(args, node)]
	tags := object.get(entry, "tags", [])
	_call_strings_pass(tags, nodes)
	roots := object.get(entry, "allowed_roots", object.get(server, "allowed_roots", []))
	outside := [value |
		"file" in tags
		some [path, value] in nodes
		is_string(value)
		_absolute(value)
		_call_path_key(array.concat(rules.path_keys, object.get(entry, "path_arguments", [])), _key_of(path))
		not _call_within(roots, value)
	]
	outside == []

	# Obligations: the secret-looking keys (_secret_paths) and the rate budget.
	secrets := {path |
		some [path, _] in nodes
		count(path) > 0
		key := path[count(path) - 1]
		is_string(key)
		normalized := replace(lower(key), "-", "_")
		some pattern in rules.secret_key_patterns
		regex.match(pattern, normalized)
	}
	spec := _call_rate_spec(entry)
}

_call_admitted(server) if not server.require_authentication

_call_admitted(_) if _authenticated

_call_granted(true, _, _) := true

_call_granted(_, grants, name) if {
	some grant in grants
	some pattern in object.get(grant, "tools", [])
	glob.match(pattern, [], name)
}

_call_shared(true, _, _, _) := true

_call_shared(_, team, _, _) if not is_string(team)

_call_shared(_, _, patterns, name) if {
	some pattern in patterns
	glob.match(pattern, [], name)
}

_call_blocked(true) if _critical_window_closed

_call_strings_pass(tags, _) if {
	not "exec" in tags
	not "sql" in tags
}

_call_strings_pass(tags, nodes) if {
	some tag in tags
	tag in {"exec", "sql"}
	every node in nodes {
		not _call_string_violates(tags, node[1])
	}
}

_call_string_violates(tags, value) if {
	"exec" in tags
	is_string(value)
	regex.match(_shell_metacharacters, value)
}

_call_string_violates(tags, value) if {
	"sql" in tags
	is_string(value)
	regex.match(_sql_stacking, value)
}

# _path_key without the rules it reads: a lower-case key matches a configured
# key as it is or lower-cased.
_call_path_key(keys, key) if key in keys

_call_path_key(keys, key) if {
	not key in keys
	key in {lower(configured) | some configured in keys}
}

_call_within(roots, value) if {
	some root in roots
	value == root
}

_call_within(roots, value) if {
	some root in roots
	startswith(value, concat("", [trim_suffix(root, "/"), "/"]))
}

_call_secret_below(secrets, path) if {
	some i, _ in path
	i > 0
	array.slice(path, 0, i) in secrets
}

_call_replacement(entry, args) := replacement if {
	replacement := object.union(args, entry.force_arguments)
} else := null

_call_rate_spec(entry) := spec if {
	spec := entry.rate_limit
} else := data.sark.decision_defaults.rate_limit if {
	_authenticated
} else := data.sark.decision_defaults.unauthenticated_rate_limit

_call_cache(true) := {"ttl_seconds": 0, "scope": "none"}

_call_cache(false) := {"ttl_seconds": data.sark.decision_defaults.cache_ttl_seconds, "scope": "arguments"}

_call_audit(rank, ranks) := {"level": "full"} if {
	rank >= object.get(ranks, ["high"], 0)
} else := {"level": "basic"}

# levels.trust_rank with the ranks looked up in place.
_call_trust(agent, ranks) := object.get(ranks, [agent.trust_level], 0) if {
	is_string(agent.trust_level)
} else := max(role_ranks) if {
	role_ranks := [object.get(ranks, [level], 0) |
		some role in agent.roles
		level := data.sark.roles[role].trust_level
		is_string(level)
	]
	count(role_ranks) > 0
} else := object.get(ranks, [data.sark.sensitivity.default_trust_level], 0)
