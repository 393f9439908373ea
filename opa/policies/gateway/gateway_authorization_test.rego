# METADATA
# title: Gateway policy tests
# description: |
#   Table-driven: every case is a full input that opa/schemas/input.schema.json
#   accepts (checked in contract_test.rego), run against the example data.
package sark.gateway_test

import data.sark.gateway

monday_10 := {"unix_ms": 1767607200000, "rfc3339": "2026-01-05T10:00:00.000Z", "weekday": "Monday", "hour_utc": 10, "minute_utc": 0}

_at(weekday, hour) := object.union(monday_10, {"weekday": weekday, "hour_utc": hour})

anonymous := {
	"id": "anonymous", "type": "anonymous", "authenticated": false, "auth_method": "none",
	"roles": ["anonymous"], "tenant": null, "team": null, "trust_level": null, "environment": null,
	"teams": [], "scopes": [], "client_id": null, "delegation": [],
}

_agent(id, roles, fields) := object.union(
	object.union(anonymous, {"id": id, "type": "agent", "authenticated": true, "auth_method": "api_key", "roles": roles, "tenant": "acme"}),
	fields,
)

developer := _agent("dev-1", ["developer"], {"team": "platform", "environment": "dev"})

developer_data := _agent("dev-2", ["developer"], {"team": "data", "environment": "dev"})

developer_low := _agent("dev-3", ["developer"], {"team": "platform", "trust_level": "low"})

admin := _agent("admin-1", ["admin"], {})

admin_data := _agent("admin-2", ["admin"], {"team": "data", "trust_level": "critical", "environment": "prod"})

operator := _agent("sre-1", ["operator"], {"team": "sre", "environment": "prod"})

operator_critical := object.union(operator, {"trust_level": "critical"})

analyst := _agent("ana-1", ["analyst"], {"team": "data", "environment": "prod"})

analyst_low := object.union(analyst, {"trust_level": "low"})

# METADATA
# description: A schema-valid gateway input; `extra` adds tool, arguments and the like.
request(action, server, agent, extra) := object.union(
	{
		"schema_version": 1, "action": action, "kind": "request", "method": null,
		"era": "2025-session", "protocol_version": "2025-06-18",
		"server": {"id": server}, "agent": agent, "session_id": "s-1",
		"request": {
			"id": "r-1", "jsonrpc_id": 1, "transport": "streamable-http", "http_method": "POST",
			"path": "/mcp", "client_address": "127.0.0.1", "user_agent": "test", "time": monday_10,
		},
		"client": {"verified": false, "client_info": null, "client_capabilities": null},
	},
	extra,
)

call(server, agent, tool, args) := request("gateway:tool:invoke", server, agent, {"method": "tools/call", "tool": {"name": tool}, "arguments": args})

call_at(server, agent, tool, args, clock) := object.union(call(server, agent, tool, args), {"request": {"time": clock}})

_big := concat("", ["0123456789" | some _ in numbers.range(1, 2000)])

_deep_9 := {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": "leaf"}}}}}}}}}

_deep_8 := {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": "leaf"}}}}}}}}

_session_actions := [
	"gateway:server:connect", "gateway:server:ping", "gateway:notification",
	"gateway:response", "gateway:stream:listen", "gateway:session:end", "gateway:tools:list",
]

# METADATA
# description: Inputs the policy must allow, by case name.
allow_cases := object.union(
	{sprintf("anonymous %s on demo", [a]): request(a, "demo", anonymous, {}) | some a in _session_actions},
	{
		"anonymous echo": call("demo", anonymous, "echo", {"text": "../../etc is just text"}),
		"anonymous add": call("demo", anonymous, "add", {"a": 1, "b": 2}),
		"anonymous get_time": call("demo", anonymous, "get_time", {}),
		"developer echo": call("demo", developer, "echo", {"text": "hi"}),
		"admin delete_file inside the root": call("demo", admin, "delete_file", {"path": "/tmp/sark-demo/a/b.txt"}),
		"admin delete_file the root itself": call("demo", admin, "delete_file", {"path": "/tmp/sark-demo"}),
		"admin delete_file relative path": call("demo", admin, "delete_file", {"path": "a/file..name.txt"}),
		"owner writes a file": call("files", developer, "write_file", {"path": "/tmp/out.txt", "content": "; | ../"}),
		"other team reads a shared tool": call("files", analyst, "read_file", {"path": "/srv/shared/r.txt"}),
		"operator restarts a service": call("ops", operator, "restart_service", {"name": "api"}),
		"critical command in hours from prod": call("ops", operator_critical, "run_command", {"command": "ls -la /var/log"}),
		"critical command at 18h": call_at("ops", operator_critical, "run_command", {"command": "uptime"}, _at("Friday", 18)),
		"sql query": call("warehouse", analyst, "query", {"sql": "select a from t;"}),
		"critical sql on a server's own window": call_at("warehouse", admin_data, "drop_table", {"name": "t"}, _at("Thursday", 10)),
		"arguments at the depth limit": call("demo", anonymous, "echo", _deep_8),
		"developer reads a resource": request("gateway:resource:read", "demo", developer, {"resource": {"uri": "demo://readme"}}),
		"developer subscribes": request("gateway:resource:subscribe", "demo", developer, {"resource": {"uri": "demo://readme"}}),
		"analyst reads a shared file resource": request("gateway:resource:read", "files", analyst, {"resource": {"uri": "file:///srv/shared/a"}}),
		"analyst gets a prompt": request("gateway:prompt:get", "warehouse", analyst, {"prompt": {"name": "report_weekly"}, "arguments": {"week": "1"}}),
		"analyst lists prompts": request("gateway:prompts:list", "warehouse", analyst, {}),
		"developer lists resources": request("gateway:resources:list", "demo", developer, {}),
		"developer listens to subscriptions": request("gateway:subscriptions:listen", "demo", developer, {}),
		"developer completes": request("gateway:completion:complete", "demo", developer, {}),
		"operator reads a task": request("gateway:task:read", "ops", operator, {"task": {"id": "t-1"}}),
		"operator cancels a task": request("gateway:task:cancel", "ops", operator, {"task": {"id": "t-1"}}),
		"admin sets logging": request("gateway:logging:set", "demo", admin, {}),
		"admin lists servers": request("gateway:server:list", "demo", admin, {}),
		"admin reads the audit": request("gateway:audit:read", "demo", admin, {}),
		"admin calls a method the server lists": request("gateway:method:other", "ops", admin, {"method": "ops/diagnostics"}),
		"authenticated agent connects to a server requiring it": request("gateway:server:connect", "ops", analyst, {}),
	},
)

# METADATA
# description: Inputs the policy must deny, by case name, with the first reason code expected.
deny_cases := {
	"unknown server": [request("gateway:server:connect", "nope", admin, {}), "server_unknown"],
	"anonymous on a server requiring authentication": [request("gateway:tools:list", "files", anonymous, {}), "authentication_required"],
	"unknown action": [request("gateway:bogus", "demo", admin, {}), "action_unknown"],
	"tool call without a name": [request("gateway:tool:invoke", "demo", admin, {}), "tool_name_missing"],
	"uncatalogued tool": [call("demo", admin, "format_c", {}), "tool_unknown"],
	"anonymous delete_file": [call("demo", anonymous, "delete_file", {"path": "/etc/passwd"}), "tool_not_granted"],
	"developer delete_file": [call("demo", developer, "delete_file", {"path": "/tmp/sark-demo/x"}), "tool_denied"],
	"server-wide deny beats the owner": [call("ops", operator_critical, "format_disk", {"device": "sda"}), "tool_denied"],
	"other team, unshared tool": [call("files", developer_data, "write_file", {"path": "/tmp/x"}), "tool_not_shared"],
	"nothing shared on ops": [call("ops", developer, "restart_service", {}), "tool_not_shared"],
	"explicit low trust": [call("files", developer_low, "write_file", {"path": "/tmp/x"}), "trust_insufficient"],
	"critical on Saturday": [call_at("ops", operator_critical, "run_command", {"command": "uptime"}, _at("Saturday", 10)), "outside_business_hours"],
	"critical at 19h": [call_at("ops", operator_critical, "run_command", {"command": "uptime"}, _at("Monday", 19)), "outside_business_hours"],
	"critical at 6h": [call_at("ops", operator_critical, "run_command", {"command": "uptime"}, _at("Monday", 6)), "outside_business_hours"],
	"critical on a server's own window": [call_at("warehouse", admin_data, "drop_table", {}, _at("Friday", 10)), "outside_business_hours"],
	"critical from dev": [call("ops", object.union(operator_critical, {"environment": "dev"}), "run_command", {"command": "uptime"}), "environment_mismatch"],
	"critical without environment": [call("ops", object.union(operator_critical, {"environment": null}), "run_command", {"command": "uptime"}), "environment_mismatch"],
	"anonymous resource": [request("gateway:resource:read", "demo", anonymous, {"resource": {"uri": "demo://readme"}}), "resource_not_granted"],
	"resource without uri": [request("gateway:resource:read", "demo", developer, {}), "resource_not_granted"],
	"explicitly denied resource": [request("gateway:resource:read", "demo", developer, {"resource": {"uri": "secret://keys"}}), "resource_denied"],
	"encoded resource uri": [request("gateway:resource:subscribe", "demo", developer, {"resource": {"uri": "file:///srv/%2e%2e/etc"}}), "resource_uri_obfuscated"],
	"resource above the agent's trust": [request("gateway:resource:read", "warehouse", developer_low, {"resource": {"uri": "db://t"}}), "trust_insufficient"],
	"anonymous prompt": [request("gateway:prompt:get", "demo", anonymous, {"prompt": {"name": "p"}}), "prompt_not_granted"],
	"prompt above the agent's trust": [request("gateway:prompt:get", "warehouse", analyst_low, {"prompt": {"name": "report_x"}}), "trust_insufficient"],
	"prompt arguments too large": [request("gateway:prompt:get", "warehouse", analyst, {"prompt": {"name": "report_x"}, "arguments": {"q": _big}}), "arguments_too_large"],
	"anonymous lists resources": [request("gateway:resources:list", "demo", anonymous, {}), "action_not_granted"],
	"anonymous sets logging": [request("gateway:logging:set", "demo", anonymous, {}), "action_not_granted"],
	"developer sets logging": [request("gateway:logging:set", "demo", developer, {}), "action_not_granted"],
	"anonymous unknown method": [request("gateway:method:other", "demo", anonymous, {"method": "x/y"}), "action_not_granted"],
	"developer lists servers": [request("gateway:server:list", "demo", developer, {}), "action_not_granted"],
	"developer reads the audit": [request("gateway:audit:read", "demo", developer, {}), "action_not_granted"],
	"method the server does not list": [request("gateway:method:other", "ops", admin, {"method": "x/y"}), "method_not_allowed"],
}

# Argument rules: [tool server, agent, tool, arguments, expected code].
_file := ["demo", admin, "delete_file"]

_exec := ["ops", operator_critical, "run_command"]

_sql := ["warehouse", analyst, "query"]

# METADATA
# description: Arguments each rule must reject, by case name, with the expected reason code.
argument_deny_cases := {
	"traversal": [_file, {"path": "../etc/passwd"}, "argument_path_traversal"],
	"traversal after the root": [_file, {"path": "/tmp/sark-demo/../../etc/passwd"}, "argument_path_traversal"],
	"backslash traversal": [_file, {"path": "..\\..\\windows"}, "argument_path_traversal"],
	"encoded traversal": [_file, {"path": "%2e%2e%2fetc%2fpasswd"}, "argument_path_traversal"],
	"upper-case encoded traversal": [_file, {"path": "%2E%2E%2Fetc"}, "argument_path_traversal"],
	"double-encoded traversal": [_file, {"path": "%252e%252e%252fetc"}, "argument_path_traversal"],
	"encoded backslash traversal": [_file, {"path": "..%5c..%5cwindows"}, "argument_path_traversal"],
	"overlong utf-8 traversal": [_file, {"path": "%c0%ae%c0%ae%c0%afetc"}, "argument_path_traversal"],
	"fullwidth traversal": [_file, {"path": "．．／etc/passwd"}, "argument_path_traversal"],
	"two-dot-leader traversal": [_file, {"path": "/tmp/sark-demo/‥/‥/etc"}, "argument_path_traversal"],
	"nested traversal": [_file, {"opts": {"target": "../x"}}, "argument_path_traversal"],
	"traversal in an array": [_file, {"paths": ["ok.txt", "../x"]}, "argument_path_traversal"],
	"traversal for a non-file tool": [["demo", anonymous, "echo"], {"path": "../x"}, "argument_path_traversal"],
	"triple encoding": [_file, {"path": "%25252e%25252e%25252fetc"}, "argument_path_obfuscated"],
	"encoded separator": [_file, {"path": "/tmp/sark-demo/%2fetc"}, "argument_path_obfuscated"],
	"look-alike separator": [_file, {"path": "/tmp/sark-demo/a∕b"}, "argument_path_obfuscated"],
	"NUL byte": [_file, {"path": "/tmp/sark-demo/a\u0000.txt"}, "argument_path_obfuscated"],
	"absolute path outside the roots": [_file, {"path": "/etc/passwd"}, "argument_path_outside_roots"],
	"root-name prefix trick": [_file, {"path": "/tmp/sark-demo-evil/x"}, "argument_path_outside_roots"],
	"windows drive": [_file, {"path": "C:\\Windows\\win.ini"}, "argument_path_outside_roots"],
	"home directory": [_file, {"path": "~/.ssh/id_rsa"}, "argument_path_outside_roots"],
	"server roots apply": [["files", developer, "write_file"], {"path": "/etc/cron.d/x"}, "argument_path_outside_roots"],
	"command separator": [_exec, {"command": "ls; rm -rf /"}, "argument_shell_metacharacters"],
	"command substitution": [_exec, {"command": "echo $(id)"}, "argument_shell_metacharacters"],
	"backticks": [_exec, {"command": "echo `id`"}, "argument_shell_metacharacters"],
	"pipe": [_exec, {"command": "cat x | sh"}, "argument_shell_metacharacters"],
	"redirect": [_exec, {"command": "echo x > /etc/passwd"}, "argument_shell_metacharacters"],
	"newline": [_exec, {"command": "ls\nid"}, "argument_shell_metacharacters"],
	"nested shell argument": [_exec, {"command": "env", "env": {"X": ["a", "b&&id"]}}, "argument_shell_metacharacters"],
	"stacked statement": [_sql, {"sql": "select 1; drop table users"}, "argument_sql_stacking"],
	"stacked comment": [_sql, {"sql": "select 1;-- "}, "argument_sql_stacking"],
	"nested stacked statement": [_sql, {"sql": "select ?", "params": ["1; delete from t"]}, "argument_sql_stacking"],
	"too large": [["demo", anonymous, "echo"], {"text": _big}, "arguments_too_large"],
	"too deep": [["demo", anonymous, "echo"], _deep_9, "arguments_too_deep"],
	"too deep in arrays": [["demo", anonymous, "echo"], {"a": [[[[[[[["x"]]]]]]]]}, "arguments_too_deep"],
	"encoded traversal for a non-file tool": [["demo", anonymous, "echo"], {"dir": "%2e%2e%2fetc"}, "argument_path_traversal"],
	"look-alike for a non-file tool": [["demo", anonymous, "echo"], {"file": "a∕b"}, "argument_path_obfuscated"],
	"NUL byte for a non-file tool": [["demo", anonymous, "echo"], {"opts": [{"cwd": "a\u0000b"}]}, "argument_path_obfuscated"],
}

_decide(case) := d if {
	d := gateway.decision with input as case
}

# METADATA
# description: Every allow case is allowed with no reasons.
test_allow_table if {
	failures := {name | some name, case in allow_cases; _decide(case).allow != true}
	failures == set()
	unexplained := {name | some name, case in allow_cases; _decide(case).reasons != []}
	unexplained == set()
}

# METADATA
# description: Every deny case is denied, with the expected reason first.
test_deny_table if {
	failures := {name: d.reasons | some name, [case, code] in deny_cases; d := _decide(case); _wrong_deny(d, code)}
	failures == {}
}

_wrong_deny(d, _) if d.allow != false

_wrong_deny(d, code) if d.reasons[0].code != code

# METADATA
# description: Every argument case is denied with its rule's reason (and each tool allows clean arguments).
test_deny_argument_rules if {
	failures := {name: d.reasons |
		some name, [[server, agent, tool], args, code] in argument_deny_cases
		d := _decide(call(server, agent, tool, args))
		_missing_reason(d, code)
	}
	failures == {}
}

_missing_reason(d, _) if d.allow != false

_missing_reason(d, code) if not code in {r.code | some r in d.reasons}

test_allow_clean_arguments_for_each_rule if {
	every target in [_file, _exec, _sql] {
		_decide(call(target[0], target[1], target[2], {"path": "/tmp/sark-demo/x", "command": "uptime", "sql": "select 1"})).allow
	}
}

test_allow_anonymous_demo_tools_match_the_starter_policy if {
	_decide(call("demo", anonymous, "delete_file", {})).reasons[0].code == "tool_not_granted"
	every tool in ["echo", "add", "get_time"] {
		_decide(call("demo", anonymous, tool, {})).allow
	}
}

test_deny_default_reason_when_no_rule_explains if {
	d := gateway.decision with input as request("gateway:tools:list", "demo", anonymous, {}) with gateway.allow as false
	d.reasons == [{"code": "default_deny", "message": "no rule allows this request"}]
}

## tools/list visibility

# METADATA
# description: "Visibility cases: [server, agent, clock, expected visible tools]."
visibility_cases := {
	"anonymous on demo": ["demo", anonymous, monday_10, ["add", "echo", "get_time"]],
	"developer on demo": ["demo", developer, monday_10, ["add", "echo", "get_time"]],
	"admin on demo": ["demo", admin, monday_10, ["add", "delete_file", "echo", "get_time"]],
	"other team on files": ["files", analyst, monday_10, ["list_dir", "read_file"]],
	"owner on files": ["files", developer, monday_10, ["list_dir", "read_file", "write_file"]],
	"operator in hours": ["ops", operator_critical, monday_10, ["restart_service", "run_command"]],
	"operator on Saturday": ["ops", operator_critical, _at("Saturday", 10), ["restart_service"]],
	"developer on ops": ["ops", developer, monday_10, []],
	"analyst on warehouse": ["warehouse", analyst, monday_10, ["query"]],
}

_list(server, agent, clock) := _decide(object.union(request("gateway:tools:list", server, agent, {}), {"request": {"time": clock}}))

test_allow_tools_list_shows_exactly_the_callable_tools if {
	failures := {name: got |
		some name, [server, agent, clock, want] in visibility_cases
		got := _list(server, agent, clock).visible_tools
		got != want
	}
	failures == {}
}

# The tools/list filter and tools/call must never disagree, for any agent, server, tool or hour.
test_allow_visibility_matches_invoke_for_every_tool if {
	agents := [anonymous, developer, developer_data, developer_low, admin, admin_data, operator, operator_critical, analyst]
	mismatches := {[agent.id, server, clock.weekday] |
		some agent in agents
		some server, catalog in data.sark.tools
		some clock in [monday_10, _at("Saturday", 10)]
		visible := {name | some name in _list(server, agent, clock).visible_tools}
		callable := {name | some name, _ in catalog; gateway.allow with input as call_at(server, agent, name, {}, clock)}
		visible != callable
	}
	mismatches == set()
}

test_deny_tools_list_visible_tools_null_for_other_actions if {
	_decide(call("demo", anonymous, "echo", {})).visible_tools == null
}

## Obligations

test_allow_redacts_secret_looking_keys_at_any_depth if {
	args := {
		"db": {"password": "x", "host": "h"},
		"headers": [{"Authorization": "Bearer y"}],
		"api-key": "k",
		"max_tokens": 5,
		"credentials": {"token": "t"},
		"a/b_token": "t",
		"my~client_secret": "s",
		"text": "hello",
	}
	d := _decide(call("demo", anonymous, "echo", args))
	d.allow
	d.obligations.arguments.redact == ["/api-key", "/a~1b_token", "/credentials", "/db/password", "/headers/0/Authorization", "/my~0client_secret"]
	d.obligations.arguments.placeholder == "[REDACTED]"
}

test_deny_redaction_still_applies_to_denied_calls if {
	d := _decide(call("demo", anonymous, "delete_file", {"path": "/x", "token": "t"}))
	not d.allow
	d.obligations.arguments.redact == ["/token"]
}

test_allow_no_obligations_for_plain_arguments if {
	d := _decide(call("demo", anonymous, "add", {"a": 1, "b": 2}))
	d.obligations == {"arguments": {"replace": null, "drop": [], "redact": [], "placeholder": "[REDACTED]"}}
}

test_allow_drops_configured_arguments if {
	_decide(call("files", developer, "write_file", {"path": "/tmp/x", "_debug": true})).obligations.arguments.drop == ["/_debug"]
	_decide(call("files", developer, "write_file", {"path": "/tmp/x"})).obligations.arguments.drop == []
}

test_allow_forced_arguments_replace_the_client_values if {
	d := _decide(call("warehouse", analyst, "query", {"sql": "select 1", "read_only": false}))
	d.obligations.arguments.replace == {"sql": "select 1", "read_only": true}
}

## Cache, audit, rate limit

test_allow_cache_scopes if {
	_decide(call("demo", anonymous, "echo", {})).cache == {"ttl_seconds": 30, "scope": "arguments"}
	_decide(request("gateway:server:ping", "demo", anonymous, {})).cache == {"ttl_seconds": 30, "scope": "target"}
	_decide(request("gateway:tools:list", "demo", anonymous, {})).cache.scope == "target"
}

test_deny_caching_of_clock_dependent_decisions if {
	_decide(call("ops", operator_critical, "run_command", {"command": "uptime"})).cache == {"ttl_seconds": 0, "scope": "none"}
	_decide(request("gateway:tools:list", "ops", operator, {})).cache.scope == "none"
}

test_allow_audit_levels if {
	_decide(request("gateway:server:ping", "demo", anonymous, {})).audit.level == "none"
	_decide(call("demo", anonymous, "echo", {})).audit.level == "basic"
	_decide(call("demo", admin, "delete_file", {"path": "/tmp/sark-demo/x"})).audit.level == "full"
	_decide(call("demo", anonymous, "delete_file", {})).audit.level == "full"
}

test_allow_rate_limits if {
	_decide(call("demo", anonymous, "echo", {})).rate_limit == {"key": "tool|anonymous|demo|echo", "limit": 60, "window_seconds": 60}
	_decide(call("demo", developer, "echo", {})).rate_limit.limit == 600
	_decide(call("ops", operator_critical, "run_command", {"command": "uptime"})).rate_limit.limit == 10
}

test_deny_no_rate_limit_when_denied_or_not_a_call if {
	_decide(call("demo", anonymous, "delete_file", {})).rate_limit == null
	_decide(request("gateway:tools:list", "demo", anonymous, {})).rate_limit == null
}

## Trust levels

test_allow_trust_from_roles_then_default if {
	_decide(call("demo", admin, "delete_file", {"path": "/tmp/sark-demo/x"})).allow
	_decide(call("demo", _agent("norole", [], {}), "echo", {})).reasons[0].code == "tool_not_granted"
	d := gateway.decision with input as call("demo", _agent("x", ["developer"], {}), "echo", {})
		with data.sark.roles.developer.trust_level as null
	d.allow
}

test_deny_unknown_trust_level_ranks_lowest if {
	d := _decide(call("demo", object.union(developer, {"trust_level": "superuser"}), "echo", {}))
	d.reasons[0].code == "trust_insufficient"
}

# Off-contract input (no environment field at all) must still fail closed.
test_deny_critical_when_the_environment_field_is_missing if {
	agent := object.remove(operator_critical, ["environment"])
	d := gateway.decision with input as call("ops", agent, "run_command", {"command": "uptime"})
	d.reasons[0].code == "environment_mismatch"
}

## The argument fast path

# METADATA
# description: |
#   arguments_pass settles most calls without walking the arguments; it must
#   agree with the full rule set on every test input.
test_allow_argument_fast_path_agrees_with_the_rules if {
	cases := array.concat(
		[case | some case in allow_cases],
		[call(c[0][0], c[0][1], c[0][2], c[1]) | some c in argument_deny_cases],
	)
	disagreements := [[case.tool, case.arguments] |
		some case in cases
		full := count(gateway.argument_violations) == 0 with input as case
		fast := _passes(case)
		full != fast
	]
	disagreements == []
	plain_with_violations := [case.arguments |
		some case in cases
		gateway._arguments_plain with input as case
		count(gateway.argument_violations) > 0 with input as case
	]
	plain_with_violations == []
}

default _passes(_) := false

_passes(case) if gateway.arguments_pass with input as case

test_deny_upper_case_path_keys_in_data_still_match if {
	d := gateway.decision with input as call("demo", anonymous, "echo", {"Path": "../x"})
		with data.sark.argument_rules.path_keys as ["PATH"]
	"argument_path_traversal" in {r.code | some r in d.reasons}
}

test_deny_tool_call_to_an_unknown_server if {
	d := _decide(call("nope", admin, "echo", {"text": "hi"}))
	d.reasons[0].code == "server_unknown"
	d.rate_limit == null
}
