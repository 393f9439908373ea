# METADATA
# title: OAuth scope tests
# description: |
#   Token-authenticated agents need the server's and the tool's scopes; a deny
#   for missing scopes names every scope the operation needs; other agents
#   are governed by roles alone; the fast paths agree with the full rules.
package sark.gateway_scopes_test

import data.sark.gateway
import data.sark.gateway_test

# A developer whose identity came from an OAuth access token with these scopes.
_jwt(scopes) := object.union(gateway_test.developer, {
	"id": "user-1", "type": "user", "auth_method": "jwt",
	"scopes": scopes, "client_id": "https://client.example/meta.json",
})

_jwt_analyst(scopes) := object.union(gateway_test.analyst, {"auth_method": "jwt", "scopes": scopes, "client_id": "c-1"})

# METADATA
# description: Token-authenticated calls the policy allows, by case name.
allow_cases := {
	"echo with the server scope": gateway_test.call("demo", _jwt(["mcp:tools"]), "echo", {"text": "hi"}),
	"get_time with server and tool scopes": gateway_test.call("demo", _jwt(["mcp:tools", "time:read"]), "get_time", {}),
	"extra scopes do no harm": gateway_test.call("demo", _jwt(["mcp:tools", "time:read", "other"]), "add", {"a": 1, "b": 2}),
	"owner writes with files:write": gateway_test.call("files", _jwt(["files:read", "files:write"]), "write_file", {"path": "/tmp/a"}),
	"shared read with files:read": gateway_test.call("files", _jwt_analyst(["files:read"]), "read_file", {"path": "/srv/shared/a"}),
	"connect with the server scope": gateway_test.request("gateway:server:connect", "demo", _jwt(["mcp:tools"]), {}),
	"tools/list with the server scope": gateway_test.request("gateway:tools:list", "demo", _jwt(["mcp:tools"]), {}),
	"a server without scopes": gateway_test.call("warehouse", _jwt_analyst([]), "query", {"sql": "select 1"}),
}

# METADATA
# description: Token-authenticated messages denied for scopes, each with the scopes to challenge for.
scope_deny_cases := {
	"echo without any scope": [gateway_test.call("demo", _jwt([]), "echo", {"text": "hi"}), ["mcp:tools"]],
	"get_time without the tool scope": [gateway_test.call("demo", _jwt(["mcp:tools"]), "get_time", {}), ["mcp:tools", "time:read"]],
	"get_time without either": [gateway_test.call("demo", _jwt(["time:read"]), "get_time", {}), ["mcp:tools", "time:read"]],
	"write without files:write": [gateway_test.call("files", _jwt(["files:read"]), "write_file", {"path": "/tmp/a"}), ["files:read", "files:write"]],
	"connect without the server scope": [gateway_test.request("gateway:server:connect", "demo", _jwt([]), {}), ["mcp:tools"]],
	"the GET stream without the server scope": [gateway_test.request("gateway:stream:listen", "demo", _jwt(["time:read"]), {}), ["mcp:tools"]],
	"a scope of another kind of agent does not count": [gateway_test.call("files", _jwt(["files:write"]), "write_file", {"path": "/tmp/a"}), ["files:read", "files:write"]],
}

test_allow_token_agents_with_their_scopes if {
	failures := {name | some name, case in allow_cases; not gateway.decision.allow with input as case}
	failures == set()
}

test_deny_insufficient_scope_names_every_required_scope if {
	failures := {name: [d.reasons, d.required_scopes] |
		some name, [case, scopes] in scope_deny_cases
		d := gateway.decision with input as case
		not _scope_deny(d, scopes)
	}
	failures == {}
}

_scope_deny(d, scopes) if {
	not d.allow
	[r.code | some r in d.reasons] == ["insufficient_scope"]
	d.required_scopes == scopes
}

test_allow_required_scopes_empty_when_allowed_or_not_a_token if {
	every case in allow_cases {
		d := gateway.decision with input as case
		d.required_scopes == []
	}

	# The same calls from an API key agent: roles alone decide.
	api_key := gateway.decision with input as gateway_test.call("demo", gateway_test.developer, "get_time", {})
	api_key.allow
	api_key.required_scopes == []
	anonymous := gateway.decision with input as gateway_test.call("demo", gateway_test.anonymous, "get_time", {})
	anonymous.allow
}

test_deny_other_reasons_come_before_insufficient_scope if {
	# Not granted by role and no scope: stepping up alone would not help, and the first reason says so.
	d := gateway.decision with input as gateway_test.call("demo", _jwt([]), "delete_file", {"path": "/tmp/sark-demo/x"})
	not d.allow
	d.reasons[0].code == "tool_denied"
	"insufficient_scope" in {r.code | some r in d.reasons}
	d.required_scopes == ["mcp:tools"]
}

test_deny_offline_access_is_never_required if {
	case := gateway_test.call("demo", _jwt([]), "echo", {})
	d := gateway.decision with input as case with data.sark.servers.demo.scopes as ["offline_access", "mcp:tools"]
	d.required_scopes == ["mcp:tools"]
	ok := gateway.decision with input as gateway_test.call("demo", _jwt(["mcp:tools"]), "echo", {})
		with data.sark.servers.demo.scopes as ["offline_access", "mcp:tools"]
	ok.allow
	full := gateway._full_decision with input as gateway_test.call("demo", _jwt(["mcp:tools"]), "echo", {})
		with data.sark.servers.demo.scopes as ["offline_access", "mcp:tools"]
	full.allow
}

# The fast paths settle allowed token calls and step aside for scope denies.
test_allow_fast_paths_equal_the_full_decision_for_token_agents if {
	cases := array.concat([case | some case in allow_cases], [c[0] | some c in scope_deny_cases])
	mismatches := [case.action |
		some case in cases
		fast := gateway.decision with input as case
		full := gateway._full_decision with input as case
		fast != full
	]
	mismatches == []
	gateway._allowed_call with input as allow_cases["get_time with server and tool scopes"]
	gateway._indexed_call with input as allow_cases["get_time with server and tool scopes"]
	not gateway._allowed_call with input as scope_deny_cases["get_time without the tool scope"][0]
	not gateway._indexed_call with input as scope_deny_cases["get_time without the tool scope"][0]
}
