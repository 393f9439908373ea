# METADATA
# title: Fast path tests
# description: |
#   The allowed tools/call fast path (gateway_call.rego) must give exactly the
#   decision the individual rules give (_full_decision), take the clean calls
#   it exists for, and leave every deny to the full rules.
package sark.gateway_call_test

import data.sark.gateway
import data.sark.gateway_test

_agent_in(team, roles) := object.union(gateway_test.developer, {"id": "x-1", "team": team, "roles": roles})

_bench_arguments := {"path": "/tmp/out/report.txt", "content": "quarterly numbers", "options": {"mode": "0644", "api_token": "t-123"}}

_deep_8 := {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": "leaf"}}}}}}}}

_nested_secrets := {"auth": {"token": "x"}, "items": [{"Api-Key": "y"}], "a/b~c": {"password": "z"}}

# METADATA
# description: Clean tool calls the fast path settles, one per branch it has.
fast_cases := {
	"the load test's echo": gateway_test.call("demo", gateway_test.anonymous, "echo", {"text": "load test"}),
	"the bench write_file": gateway_test.call("files", gateway_test.developer, "write_file", _bench_arguments),
	"no arguments at all": object.remove(gateway_test.call("demo", gateway_test.anonymous, "get_time", {}), ["arguments"]),
	"drop an argument": gateway_test.call("files", gateway_test.developer, "write_file", {"path": "/tmp/a", "_debug": true}),
	"forced arguments": gateway_test.call("warehouse", gateway_test.analyst, "query", {"sql": "select 1", "read_only": false}),
	"clean shell command": gateway_test.call("ops", gateway_test.operator_critical, "run_command", {"command": "uptime"}),
	"high tool audited in full": gateway_test.call("ops", gateway_test.operator, "restart_service", {"name": "api"}),
	"file root itself": gateway_test.call("demo", gateway_test.admin, "delete_file", {"path": "/tmp/sark-demo"}),
	"file path in an array": gateway_test.call("demo", gateway_test.admin, "delete_file", {"paths": ["/tmp/sark-demo/a", "b"]}),
	"relative file path": gateway_test.call("demo", gateway_test.admin, "delete_file", {"path": "a/b"}),
	"nested secrets, outermost redacted": gateway_test.call("demo", gateway_test.anonymous, "echo", _nested_secrets),
	"owner with an unknown role and default trust": gateway_test.call("files", _agent_in("platform", ["nobody"]), "read_file", {"path": "/srv/shared/a"}),
	"shared tool for another team": gateway_test.call("files", gateway_test.analyst, "list_dir", {"path": "/srv/shared"}),
	"more nodes than max_depth, all shallow": gateway_test.call("demo", gateway_test.anonymous, "add", {"a": 1, "b": 2, "c": [3, 4, 5, 6, 7, 8, 9]}),
	"nested at the depth limit": gateway_test.call("demo", gateway_test.anonymous, "echo", _deep_8),
}

# METADATA
# description: Calls the fast path must leave to the full rules although they are allowed.
slow_allow_cases := {
	"dots in a value": gateway_test.call("demo", gateway_test.anonymous, "echo", {"text": "../x"}),
	"non-ASCII value": gateway_test.call("demo", gateway_test.anonymous, "echo", {"text": "café"}),
	"percent in a value": gateway_test.call("demo", gateway_test.anonymous, "echo", {"text": "100%"}),
	"exec tool, a semicolon only in a key": gateway_test.call("ops", gateway_test.operator_critical, "run_command", {"a;b": "uptime"}),
	"sql statement ending in a semicolon": gateway_test.call("warehouse", gateway_test.analyst, "query", {"sql": "select a from t;"}),
}

# The test inputs by family, each family its own test (opa test's per-test
# timeout): every allow and deny case, every argument case, and the cases here.
_families := {
	"allow": [case | some case in gateway_test.allow_cases],
	"deny": [case[0] | some case in gateway_test.deny_cases],
	"arguments": [gateway_test.call(c[0][0], c[0][1], c[0][2], c[1]) | some c in gateway_test.argument_deny_cases],
	"fast path": array.concat([case | some case in fast_cases], [case | some case in slow_allow_cases]),
}

_mismatches(family) := [[case.action, case.server.id, object.get(case, ["tool", "name"], null)] |
	some case in _families[family]
	fast := gateway.decision with input as case
	full := gateway._full_decision with input as case
	fast != full
]

# METADATA
# description: |
#   Equivalence: on every test input the decision equals the one assembled
#   from the individual rules, whichever path produced it.
test_allow_fast_path_equals_the_full_decision_on_the_allow_cases if {
	_mismatches("allow") == []
}

test_deny_fast_path_equals_the_full_decision_on_the_deny_cases if {
	_mismatches("deny") == []
}

test_deny_fast_path_equals_the_full_decision_on_the_argument_cases if {
	_mismatches("arguments") == []
}

test_allow_fast_path_equals_the_full_decision_on_its_own_cases if {
	_mismatches("fast path") == []
}

test_allow_fast_path_takes_the_clean_calls if {
	missed := {name | some name, case in fast_cases; not _fast(case)}
	missed == set()
}

test_allow_fast_path_leaves_suspicious_arguments_to_the_full_rules if {
	taken := {name | some name, case in slow_allow_cases; _fast(case)}
	taken == set()
	every case in slow_allow_cases {
		gateway.decision.allow with input as case
	}
}

test_deny_fast_path_never_settles_a_deny if {
	denies := array.concat(
		[case[0] | some case in gateway_test.deny_cases],
		[gateway_test.call(c[0][0], c[0][1], c[0][2], c[1]) | some c in gateway_test.argument_deny_cases],
	)
	taken := [case | some case in denies; _fast(case)]
	taken == []
}

_fast(case) if gateway._allowed_call with input as case

test_allow_fast_path_fields if {
	echo := gateway.decision with input as fast_cases["the load test's echo"]
	echo.rate_limit == {"key": "tool|anonymous|demo|echo", "limit": 60, "window_seconds": 60}
	secrets := gateway.decision with input as fast_cases["nested secrets, outermost redacted"]
	secrets.obligations.arguments.redact == ["/auth", "/a~1b~0c/password", "/items/0/Api-Key"]
	forced := gateway.decision with input as fast_cases["forced arguments"]
	forced.obligations.arguments.replace == {"sql": "select 1", "read_only": true}
	dropped := gateway.decision with input as fast_cases["drop an argument"]
	dropped.obligations.arguments.drop == ["/_debug"]
	critical := gateway.decision with input as fast_cases["clean shell command"]
	critical.cache == {"ttl_seconds": 0, "scope": "none"}
	critical.audit == {"level": "full"}
	critical.rate_limit.limit == 10
}

# Trust from the default level, and data the rules read in place.
test_allow_fast_path_equals_the_full_decision_with_other_data if {
	dev_echo := gateway_test.call("demo", _agent_in(null, ["developer"]), "echo", {})
	fast := gateway.decision with input as dev_echo with data.sark.roles.developer.trust_level as null
	full := gateway._full_decision with input as dev_echo with data.sark.roles.developer.trust_level as null
	fast == full
	fast.allow
	upper_key := gateway_test.call("demo", gateway_test.admin, "delete_file", {"PATH": "/etc/x"})
	fast_upper := gateway.decision with input as upper_key with data.sark.argument_rules.path_keys as ["PATH"]
	full_upper := gateway._full_decision with input as upper_key with data.sark.argument_rules.path_keys as ["PATH"]
	fast_upper == full_upper
	not fast_upper.allow
}

test_deny_fast_path_leaves_exec_sql_and_root_violations_to_the_full_rules if {
	every case in [
		gateway_test.call("ops", gateway_test.operator_critical, "run_command", {"command": "ls; rm -rf /"}),
		gateway_test.call("warehouse", gateway_test.analyst, "query", {"sql": "select 1; drop table t"}),
		gateway_test.call("demo", gateway_test.admin, "delete_file", {"path": "/etc/passwd"}),
	] {
		not _fast(case)
		d := gateway.decision with input as case
		d == gateway._full_decision with input as case
	}
}
