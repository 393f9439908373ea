# METADATA
# title: Index and indexed fast path tests
# description: |
#   The committed index (opa/data/index.json) is what the policy computes from
#   the data; the indexed fast path takes the calls it exists for, gives the
#   full rules' decision on them (also checked on every test input in
#   gateway_call_test.rego), and steps aside when the index is stale.
package sark.gateway_index_test

import data.sark.gateway
import data.sark.gateway_call_test
import data.sark.gateway_test

_indexed(case) if gateway._indexed_call with input as case

_bench := gateway_call_test.fast_cases["the bench write_file"]

_agent_in(team, roles) := object.union(gateway_test.developer, {"id": "x-1", "team": team, "roles": roles})

test_allow_committed_index_is_fresh if {
	# Fails after a data change until `npm run policy:build` rewrites opa/data/index.json.
	data.sark.index == gateway.compiled_index
}

test_allow_indexed_path_takes_the_single_role_calls if {
	cases := {name: case |
		some name in [
			"the load test's echo",
			"the bench write_file",
			"no arguments at all",
			"drop an argument",
			"forced arguments",
			"clean shell command",
			"high tool audited in full",
			"file root itself",
			"relative file path",
			"shared tool for another team",
			"more nodes than max_depth, all shallow",
			"nested at the depth limit",
		]
		case := gateway_call_test.fast_cases[name]
	}
	missed := {name | some name, case in cases; not _indexed(case)}
	missed == set()
	every case in cases {
		d := gateway._indexed_call with input as case
		d == gateway._full_decision with input as case
	}
}

test_allow_indexed_path_redacts_every_separate_secret if {
	case := gateway_test.call("demo", gateway_test.anonymous, "echo", {"password": "p", "nested": {"Api-Key": "k", "a/b": {"x-token": "t"}}})
	d := gateway._indexed_call with input as case
	d.obligations.arguments.redact == ["/nested/Api-Key", "/nested/a~1b/x-token", "/password"]
	d == gateway._full_decision with input as case
}

test_allow_indexed_path_leaves_the_rest_to_the_plain_fast_path if {
	every case in [
		# a secret below a secret, and one below an array
		gateway_call_test.fast_cases["nested secrets, outermost redacted"],
		gateway_test.call("demo", gateway_test.anonymous, "echo", {"items": [{"token": "t"}]}),
		# two roles, no role
		gateway_test.call("files", _agent_in("platform", ["developer", "analyst"]), "read_file", {"path": "/tmp/a"}),
		gateway_test.call("files", _agent_in("platform", []), "read_file", {"path": "/tmp/a"}),
		# an unknown role
		gateway_call_test.fast_cases["owner with an unknown role and default trust"],
	] {
		not _indexed(case)
		gateway._allowed_call with input as case
		d := gateway.decision with input as case
		d == gateway._full_decision with input as case
	}
}

test_deny_indexed_path_never_settles_a_deny if {
	denies := array.concat(
		[case[0] | some case in gateway_test.deny_cases],
		[gateway_test.call(c[0][0], c[0][1], c[0][2], c[1]) | some c in gateway_test.argument_deny_cases],
	)
	taken := [case | some case in denies; _indexed(case)]
	taken == []
}

# Each document an index entry depends on, changed under it: the entry no
# longer matches the data, the indexed path steps aside and the decision is
# still the full rules' one.
test_deny_indexed_path_steps_aside_on_a_stale_index if {
	not _indexed(_bench) with data.sark.tools.files.write_file.sensitivity as "critical"
	not _indexed(_bench) with data.sark.servers.files.owner_team as "sre"
	not _indexed(_bench) with data.sark.roles.developer.trust_level as "low"
	not _indexed(_bench) with data.sark.sensitivity.levels.medium as 4
	not _indexed(_bench) with data.sark.argument_rules.max_bytes as 10
	not _indexed(_bench) with data.sark.decision_defaults.cache_ttl_seconds as 1

	# Removed from the data: the index still has it, the call must not pass on it.
	not _indexed(_bench) with data.sark.tools.files as {}
	not _indexed(_bench) with data.sark.servers as object.remove(data.sark.servers, ["files"])
	not _indexed(_bench) with data.sark.roles as object.remove(data.sark.roles, ["developer"])
	not _indexed(_bench) with data.sark.sensitivity as null
	stale := gateway.decision with input as _bench with data.sark.servers.files.owner_team as "sre"
	not stale.allow
	stale == gateway._full_decision with input as _bench with data.sark.servers.files.owner_team as "sre"
}

test_deny_no_index_no_indexed_path if {
	not _indexed(_bench) with data.sark.index as null
	gateway.decision.allow with input as _bench with data.sark.index as null
}

test_allow_index_entries if {
	index := gateway.compiled_index
	index.tools.files.write_file.access.developer == {"reach": false, "trust": 2}
	index.tools.demo.echo.access.anonymous == {"reach": true, "trust": 1}
	write := index.tools.files.write_file
	write.owner_team == "platform"
	write.admitted == [true]
	write.drop == [["_debug", "/_debug"]]
	write.root_prefixes == ["/srv/shared/", "/tmp/"]
	index.tools.files.write_file.source == [data.sark.servers.files, data.sark.tools.files.write_file]
	echo := index.tools.demo.echo
	echo.admitted == [false, true]
	not echo.owner_team
	index.tools.ops.run_command.suspect == [gateway._shell_metacharacters]
	index.tools.warehouse.query.suspect == [gateway._sql_stacking]
	index.tools.ops.run_command.cache == {"ttl_seconds": 0, "scope": "none"}
	index.tools.ops.restart_service.audit == {"level": "full"}

	# Denied for a role: no entry for it; denied by the server: no plan at all.
	not index.tools.demo.delete_file.access.developer
	not index.tools.ops.format_disk
}

test_allow_index_secret_pattern_runs_on_raw_keys if {
	pattern := gateway.compiled_index.globals.secret_pattern
	every key in ["Authorization", "API-KEY", "x-api_key", "session-token", "Set-Cookie"] {
		regex.match(pattern, key)
	}
	every key in ["authorizations", "tokens", "apikeys", "path", "x-api-keyring"] {
		not regex.match(pattern, key)
	}
}

test_deny_index_is_null_for_patterns_it_cannot_carry if {
	gateway.compiled_index == null with data.sark.argument_rules.secret_key_patterns as [`\btoken\b`]
	gateway.compiled_index == null with data.sark.argument_rules.secret_key_patterns as ["[pt]assword"]
	gateway.compiled_index == null with data.sark.argument_rules.secret_key_patterns as []
}

test_deny_no_plan_for_a_non_boolean_authentication_requirement if {
	index := gateway.compiled_index with data.sark.servers.demo.require_authentication as "yes"
	index.tools.demo == {}
}
