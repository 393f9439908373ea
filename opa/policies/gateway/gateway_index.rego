# SARK gateway index: per-tool facts computed from the data ahead of time
#
# The indexed fast path (_indexed_call, gateway_call.rego) reads these
# instead of working them out on every call: grants and denies per role,
# sensitivity rank, the critical and audit levels, argument limits, path keys,
# roots, rate budgets. They depend on the data alone, so `npm run
# policy:build` evaluates compiled_index once and writes it to
# opa/data/index.json, and a test fails when that file is stale.
#
# The index keeps copies of the documents it was computed from (each tool's
# source, the roles, the global source); the fast path compares them with the
# live data on each call and steps aside when they differ, so a stale index
# costs speed, never a wrong decision. A call reads three parts of it: its
# tool's entry, the globals and its role. Without
# --optimize-store-for-read-speed OPA converts every document it reads, so
# no call reads the whole index.
package sark.gateway

import data.sark.lib.levels

# METADATA
# scope: document
# description: |
#   The index the indexed fast path reads at data.sark.index. Build-time only:
#   no decision reads this rule. Null when the secret-key patterns use syntax
#   the index cannot carry over (see _index_secret_pattern); the fast path then
#   steps aside and the plain one (_allowed_call) serves.
default compiled_index := null

compiled_index := {
	"version": 1,
	"globals": {
		"source": [data.sark.sensitivity, data.sark.argument_rules, data.sark.decision_defaults],
		"ranks": data.sark.sensitivity.levels,
		"secret_pattern": _index_secret_pattern,
	},
	"roles": data.sark.roles,
	"tools": {server_id: plans |
		some server_id, server in data.sark.servers
		plans := {name: plan |
			some name, entry in object.get(data.sark.tools, server_id, {})
			plan := _index_plan(server_id, server, name, entry)
		}
	},
}

# The secret-key patterns, rewritten to run on the raw key: the rules match
# them against the key lower-cased with "-" as "_" (_secret_key), two builtin
# calls per key. For patterns of lower-case letters, digits, "_" and the
# operators . | ( ) ^ $ ? * + { } , only, matching the raw key with (?i) and
# every "_" as [-_] is the same test on ASCII keys, and the fast path takes
# ASCII arguments only. Anything else (classes, escapes, flags) leaves the
# index null.
_index_secret_pattern := concat("", ["(?i)(?:", concat(")|(?:", [replace(p, "_", "[-_]") | some p in patterns]), ")"]) if {
	patterns := data.sark.argument_rules.secret_key_patterns
	count(patterns) > 0
	every p in patterns {
		regex.match(`^[a-z0-9_.|()^$?*+{},]+$`, p)
	}
}

# A tool the server itself denies gets no plan: every call to it is denied.
_index_plan(server_id, server, name, entry) := plan if {
	not _matches_any(object.get(server, "deny_tools", []), name)
	probe := _index_probe(server_id, name, [])
	rank := _tool_rank(name) with input as probe
	tags := object.get(entry, "tags", [])
	rules := data.sark.argument_rules
	defaults := data.sark.decision_defaults
	roots := object.get(entry, "allowed_roots", object.get(server, "allowed_roots", []))
	critical := rank >= levels.rank("critical")
	plan := object.union(
		{
			"source": [server, entry],
			"access": {role: access |
				some role, _ in data.sark.roles
				access := _index_access(server_id, name, role)
			},
			"admitted": _index_admitted[object.get(server, "require_authentication", false)],
			"scopes": array.concat(object.get(server, "scopes", []), object.get(entry, "scopes", [])),
			"rank": rank,
			"critical": critical,
			"max_bytes": object.get(entry, "max_argument_bytes", rules.max_bytes),
			"suspect": [pattern | some tag in tags; pattern := _index_suspect[tag]],
			"file": "file" in tags,
			"path_keys": {key: true |
				some configured in array.concat(rules.path_keys, object.get(entry, "path_arguments", []))
				some key in {configured, lower(configured)}
			},
			"roots": roots,
			"root_prefixes": [concat("", [trim_suffix(root, "/"), "/"]) | some root in roots],
			"drop": [[key, _pointer([key])] | some key in sort(object.get(entry, "drop_arguments", []))],
			"force": object.get(entry, "force_arguments", null),
			"rate_limit": [
				object.get(entry, "rate_limit", defaults.unauthenticated_rate_limit),
				object.get(entry, "rate_limit", defaults.rate_limit),
			],
			"cache": {true: {"ttl_seconds": 0, "scope": "none"}, false: {"ttl_seconds": defaults.cache_ttl_seconds, "scope": "arguments"}}[critical],
			"audit": {true: {"level": "full"}, false: {"level": "basic"}}[rank >= levels.rank("high")],
		},
		{"owner_team": server.owner_team | is_string(server.owner_team)},
	)
}

# The values of agent.authenticated a server admits (_authentication_ok);
# a non-boolean requirement gets no plan.
_index_admitted := {false: [false, true], true: [true]}

_index_suspect := {"exec": _shell_metacharacters, "sql": _sql_stacking}

# A role's standing on one tool, as the full rules see an agent with that
# role alone and no team: whether it reaches the tool (granted, and shared
# if the server is team-owned) and the trust it confers. A role whose grants
# deny the tool gets no entry.
_index_access(server_id, name, role) := {"reach": reach, "trust": trust} if {
	probe := _index_probe(server_id, name, [role])
	not _tool_denied(name) with input as probe
	reach := _index_reaches(name) with input as probe
	trust := levels.trust_rank(probe.agent)
}

_index_reaches(name) if {
	_tool_granted(name)
	not _tool_unshared(name)
} else := false

_index_probe(server_id, name, roles) := {
	"action": "gateway:tool:invoke",
	"server": {"id": server_id},
	"tool": {"name": name},
	"agent": {"roles": roles, "team": null, "trust_level": null, "authenticated": true},
	"arguments": {},
}
