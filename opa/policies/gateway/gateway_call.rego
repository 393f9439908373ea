# SARK gateway: the allowed tools/call fast paths
#
# Most messages are tool calls that every rule allows. Assembling their
# decision from the individual rules (allow, reasons, obligations, cache,
# audit, rate_limit and their helpers) costs a rule or function evaluation
# each, 1-4 µs apiece in OPA's evaluator (opa/BENCH.md); these paths settle
# such a call in one body over values bound once. They are undefined for
# every other message, for any call some rule denies and for arguments they
# cannot settle cheaply (anything that could hold an encoded or climbing
# path, a shell metacharacter for an exec tool, a semicolon for a sql tool);
# those take _full_decision. gateway_call_test.rego holds the decision equal
# to _full_decision on every test input, so a rule change not mirrored here
# fails as soon as a test input exercises it.
#
# Two paths, tried in this order: _indexed_call reads the per-tool facts off
# the index (OPA server with the index in its data); _allowed_call works them
# out from the data (the WebAssembly bundle, which has no index, and calls
# the index does not cover, among them every call with the MCP Gateway
# Registry's facts: _call_registry_ranks admits them and ranks their
# labels). Their argument checks are the same rules written twice on
# purpose: a shared function would cost a call and its arguments on every
# decision, and the indexed copy reads its keys, roots and secret pattern
# from the index.
package sark.gateway

# METADATA
# description: |
#   The decision for a tools/call every rule allows, read off the index
#   (data.sark.index, gateway_index.rego); undefined otherwise, and then
#   _allowed_call below or the full rules decide. The index entries must
#   equal the documents they were computed from (the server, the catalogue
#   entry, the agent's role and the three global documents): a stale or
#   missing index only sends calls down the slower paths. One role per agent,
#   ASCII arguments, at most one secret per path and no secret below an
#   array; anything else is left to _allowed_call.
_indexed_call := {
	"allow": true,
	"reasons": [],
	"obligations": {"arguments": {
		"replace": array.concat([object.union(args, plan.force) | plan.force], [null])[0],
		"drop": [pointer | some [key, pointer] in plan.drop; key in object.keys(args)],
		"redact": sort(pointers),
		"placeholder": rules.redaction_placeholder,
	}},
	"visible_tools": null,
	"visible_servers": null,
	"cache": plan.cache,
	"audit": plan.audit,
	"rate_limit": {
		"key": concat("|", ["tool", agent.id, server_id, name]),
		"limit": spec.limit,
		"window_seconds": spec.window_seconds,
	},
	"required_scopes": [],
} if {
	input.action == "gateway:tool:invoke"
	server_id := input.server.id
	name := input.tool.name
	agent := input.agent
	plan := data.sark.index.tools[server_id][name]
	rules := data.sark.argument_rules
	[role] := agent.roles

	# The index is current for this call. `not a != b`, not `a == b`: the
	# compiler turns == into unification, which walks and binds both documents
	# key by key; != is one native comparison (opa/BENCH.md, round four). The
	# documents are bound first: `not` of an undefined != would hold.
	server := data.sark.servers[server_id]

	# No registry facts, none required (else _allowed_call or the full rules: gateway_registry.rego).
	object.get(input.server, "registry", null) == null
	object.get(server, "registry_required", false) == false
	entry := data.sark.tools[server_id][name]
	not plan.source != [server, entry]
	globals := data.sark.index.globals
	sensitivity := data.sark.sensitivity
	defaults := data.sark.decision_defaults
	not globals.source != [sensitivity, rules, defaults]
	indexed_role := data.sark.index.roles[role]
	role_doc := data.sark.roles[role]
	not indexed_role != role_doc

	# Admission, scopes, grants, denies, sharing, ownership, trust, the critical window.
	agent.authenticated in plan.admitted
	[scope | agent.auth_method == "jwt"; some scope in plan.scopes; _scope_lacking(agent, scope)] == []
	access := plan.access[role]
	_indexed_reach(access, agent, plan)
	{true: object.get(globals.ranks, agent.trust_level, 0), false: access.trust}[is_string(agent.trust_level)] >= plan.rank
	_call_open(plan.critical)

	# Arguments, as in _allowed_call.
	args := object.get(input, "arguments", {})
	marshalled := json.marshal(args)
	count(marshalled) <= plan.max_bytes
	not contains(marshalled, "..")
	not contains(marshalled, "%")
	not contains(marshalled, `\u`)
	not regex.match(`[^\x01-\x7f]`, marshalled)
	[pattern | some pattern in plan.suspect; regex.match(pattern, marshalled)] == []
	nodes := [node | walk(args, node)]
	[path | count(nodes) > rules.max_depth; some [path, _] in nodes; count(path) > rules.max_depth] == []
	[value |
		plan.file
		some [path, value] in nodes
		is_string(value)
		regex.match(`^([/\\~]|[A-Za-z]:)`, value)
		plan.path_keys[_key_of(path)]
		not value in plan.roots
		not _indexed_under(plan.root_prefixes, value)
	] == []

	# Secrets: one regex per raw key (the index's pattern). A pointer is built
	# by joining the path with NUL, which no key here holds (it would show as
	# \u0000), and escaping in one pass; concat takes strings only, so a path
	# through an array has no pointer, and a secret below another one would
	# need the outermost-only rule: both go to _allowed_call.
	secret_pattern := globals.secret_pattern
	secrets := [array.concat(path, [key]) |
		some [path, value] in nodes
		is_object(value)
		some key, _ in value
		regex.match(secret_pattern, key)
	]
	pointers := [strings.replace_n({"~": "~0", "/": "~1", "\u0000": "/"}, concat("\u0000", array.concat([""], path))) | some path in secrets]
	count(pointers) == count(secrets)
	[p | count(pointers) > 1; some p in pointers; some q in pointers; startswith(p, concat("", [q, "/"]))] == []
	spec := plan.rate_limit[to_number(agent.authenticated)]
}

# Reached through the role's grant, or as a member of the owning team.
_indexed_reach(access, _, _) if access.reach

_indexed_reach(_, agent, plan) if agent.team == plan.owner_team

# strings.any_prefix_match, which the WebAssembly target lacks.
_indexed_under(prefixes, value) if {
	some prefix in prefixes
	startswith(value, prefix)
}

# METADATA
# description: |
#   The decision for a tools/call every rule allows; undefined otherwise. One
#   long body on purpose: in OPA's evaluator every expression, ref in an
#   argument, function call and else branch is a step of its own (0.5-1 µs),
#   so the body binds each value once and branches through comprehension
#   guards, small lookup tables and boolean functions that stop at their
#   first true body (opa/BENCH.md, round three).
_allowed_call := {
	"allow": true,
	"reasons": [],
	"obligations": {"arguments": {
		"replace": replacement,
		"drop": sort([_pointer([key]) | some key in entry.drop_arguments; key in object.keys(args)]),
		"redact": sort([_pointer(path) | some path in secrets; not _call_secret_below(secrets, path)]),
		"placeholder": rules.redaction_placeholder,
	}},
	"visible_tools": null,
	"visible_servers": null,
	"cache": cache,
	"audit": audit,
	"rate_limit": {
		"key": concat("|", ["tool", agent.id, server_id, name]),
		"limit": spec.limit,
		"window_seconds": spec.window_seconds,
	},
	"required_scopes": [],
} if {
	input.action == "gateway:tool:invoke"
	server_id := input.server.id
	name := input.tool.name
	agent := input.agent

	# Registration, authentication, catalogue (server_admits, _catalog). Any
	# other combination than these (a non-boolean flag) goes to the full rules.
	server := data.sark.servers[server_id]

	# The registry (gateway_registry.rego): none read and none required, or
	# one that admits the agent to the server and the tool; the ranks of its
	# sensitivity labels join the rank below.
	registry_ranks := _call_registry_ranks(object.get(input.server, "registry", null), server, name)
	entry := data.sark.tools[server_id][name]
	[object.get(server, "require_authentication", false), agent.authenticated] in {[false, false], [false, true], [true, true]}

	# OAuth scopes (gateway_scopes.rego): the server's and the tool's, for
	# token-authenticated agents. A guarded comprehension, not a function: for
	# the usual agent without a token it stops at its first expression, and
	# costs fewer allocations than a call (opa bench).
	[scope |
		agent.auth_method == "jwt"
		some scope in array.concat(object.get(server, "scopes", []), object.get(entry, "scopes", []))
		_scope_lacking(agent, scope)
	] == []

	# Grants, ownership, sharing and explicit denies (tool_permitted). Each
	# role is read once, for its grants here and its trust level below.
	role_docs := [doc | some role in agent.roles; doc := data.sark.roles[role]]
	grants := [grant | some doc in role_docs; some key in [server_id, "*"]; grant := doc.servers[key]]
	_call_reachable(server, grants, name)
	[p | some grant in grants; some p in grant.deny_tools; glob.match(p, [], name)] == []
	[p | some p in server.deny_tools; glob.match(p, [], name)] == []

	# Sensitivity: levels.rank(x) is ranks[x], else 0.
	sensitivity := data.sark.sensitivity
	ranks := sensitivity.levels
	rank := max(array.concat(
		[
			object.get(ranks, [object.get(server, "sensitivity", "low")], 0),
			object.get(ranks, [object.get(entry, "sensitivity", sensitivity.default_tool_sensitivity)], 0),
		],
		registry_ranks,
	))

	# levels.trust_rank: the agent's own level, else the highest of its roles'
	# levels, else the default: the first of the three lists that is not empty.
	role_ranks := [object.get(ranks, [level], 0) | some doc in role_docs; level := doc.trust_level; is_string(level)]
	trust := array.concat(
		array.concat([object.get(ranks, [agent.trust_level], 0) | is_string(agent.trust_level)], [max(role_ranks) | role_ranks != []]),
		[object.get(ranks, [sensitivity.default_trust_level], 0)],
	)[0]
	trust >= rank
	critical := rank >= object.get(ranks, ["critical"], 0)
	_call_open(critical)

	# Arguments (arguments_pass). The path rules only fire on a value with
	# "..", "%", NUL or a non-ASCII character, none of which survive
	# marshalling without showing as themselves or as a \u escape; the exec
	# and sql rules have superset tests on the same text (_call_text_suspect).
	# Such calls go to the full rules. Three contains() and a one-class regex
	# cost less than one regex with four alternatives (opa/BENCH.md).
	args := object.get(input, "arguments", {})
	marshalled := json.marshal(args)
	rules := data.sark.argument_rules
	count(marshalled) <= object.get(entry, "max_argument_bytes", rules.max_bytes)
	not contains(marshalled, "..")
	not contains(marshalled, "%")
	not contains(marshalled, `\u`)
	not regex.match(`[^\x01-\x7f]`, marshalled)
	tags := object.get(entry, "tags", [])
	[tag | some tag in tags; _call_text_suspect(tag, marshalled)] == []

	# The one walk (_nodes). A node at depth d comes with its d ancestors, so
	# no more nodes than max_depth need no depth scan (arguments_too_deep).
	nodes := [node | walk(args, node)]
	[path | count(nodes) > rules.max_depth; some [path, _] in nodes; count(path) > rules.max_depth] == []

	# Absolute paths outside the allowed roots, for file tools (_path_values).
	[value |
		"file" in tags
		some [path, value] in nodes
		is_string(value)
		regex.match(`^([/\\~]|[A-Za-z]:)`, value)
		_call_path_key(array.concat(rules.path_keys, object.get(entry, "path_arguments", [])), _key_of(path))
		not _call_within(object.get(entry, "allowed_roots", object.get(server, "allowed_roots", [])), value)
	] == []

	# Obligations: the secret-looking keys (_secret_paths), read off the
	# objects' keys (JSON object keys are strings), with the patterns joined
	# into one alternation, each in its own group so that a flag in one does
	# not reach the others: one regex.match per key. No patterns, no secrets:
	# "(?:)" would match every key.
	rules.secret_key_patterns != []
	pattern := concat("", ["(?:", concat(")|(?:", rules.secret_key_patterns), ")"])
	secrets := {array.concat(path, [key]) |
		some [path, value] in nodes
		is_object(value)
		some key, _ in value
		regex.match(pattern, replace(lower(key), "-", "_"))
	}
	replacement := array.concat([object.union(args, entry.force_arguments) | entry.force_arguments], [null])[0]

	# The rate budget: the tool's own, else the default for the agent's kind.
	defaults := data.sark.decision_defaults
	spec := object.get(entry, "rate_limit", {true: defaults.rate_limit, false: defaults.unauthenticated_rate_limit}[agent.authenticated])

	# Cache and audit (cache, audit): clock-bound critical calls are not cached;
	# high and critical ones are audited in full.
	cache := {true: {"ttl_seconds": 0, "scope": "none"}, false: {"ttl_seconds": defaults.cache_ttl_seconds, "scope": "arguments"}}[critical]
	audit := {true: {"level": "full"}, false: {"level": "basic"}}[rank >= object.get(ranks, ["high"], 0)]
}

# No registry facts: no ranks, unless the server requires the registry
# (then undefined: the full rules deny). Facts: the registry must admit the
# agent (and vouch for the tool where required); its labels' ranks.
_call_registry_ranks(null, server, _) := [] if object.get(server, "registry_required", false) == false

_call_registry_ranks(facts, _, name) := array.concat(
	_registry_ranks(object.get(facts, "sensitivity", [])),
	_registry_ranks(object.get(_registry_tool(name), "sensitivity", [])),
) if {
	is_object(facts)
	_registry_admits
	not _registry_tool_blocked(name)
}

# _tool_granted and not _tool_unshared: the owning team gets every tool;
# anyone else needs a role's grant and, on a team-owned server, a shared tool.
# A boolean function stops at the first body that holds.
_call_reachable(server, _, _) if {
	is_string(server.owner_team)
	input.agent.team == server.owner_team
}

_call_reachable(server, grants, name) if {
	not is_string(server.owner_team)
	some grant in grants
	some pattern in grant.tools
	glob.match(pattern, [], name)
}

_call_reachable(server, grants, name) if {
	some shared in server.shared_tools
	glob.match(shared, [], name)
	some grant in grants
	some pattern in grant.tools
	glob.match(pattern, [], name)
}

# not _scope_missing, for one required scope (offline_access never is).
_scope_lacking(agent, scope) if {
	scope != "offline_access"
	not scope in agent.scopes
}

# not _critical_blocked, without a negation.
_call_open(false)

_call_open(true) if not _critical_window_closed

# Superset tests of the exec and sql rules on the marshalled arguments: a
# string value's metacharacter shows in its JSON as itself or as an escape
# (a backslash, itself a metacharacter), and so do a semicolon and what
# follows it. Keys and closing quotes only send a clean call to the full rules.
_call_text_suspect("exec", marshalled) if regex.match(_shell_metacharacters, marshalled)

_call_text_suspect("sql", marshalled) if regex.match(_sql_stacking, marshalled)

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

# Only the outermost secret is redacted: that covers everything beneath.
_call_secret_below(secrets, path) if {
	some i, _ in path
	i > 0
	array.slice(path, 0, i) in secrets
}
