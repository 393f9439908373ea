# METADATA
# title: Server list tests
# description: |
#   gateway:server:list answers with visible_servers: the servers on which the
#   agent could call at least one tool (tools/list would show it one), empty
#   when the action is denied, null for every other action.
package sark.gateway_server_list_test

import data.sark.gateway
import data.sark.gateway_test

# Every example role, granted gateway:server:list on every server, so that the
# tables below show visibility for all kinds of agent (in the example data only
# admin has the grant). The role's other grants are kept.
_listing_roles[name] := object.union(role, {"servers": {"*": object.union(
	object.get(role.servers, "*", {}),
	{"actions": ["gateway:server:list"]},
)}}) if {
	some name, role in data.sark.roles
}

_list_request(via, agent, clock) := object.union(
	gateway_test.request("gateway:server:list", via, agent, {}),
	{"request": {"time": clock}},
)

_listed(via, agent, clock) := d if {
	d := gateway.decision with input as _list_request(via, agent, clock) with data.sark.roles as _listing_roles
}

_saturday_10 := object.union(gateway_test.monday_10, {"weekday": "Saturday"})

# METADATA
# description: "Server list cases, with every role granted the action: [asked via, agent, expected servers]."
server_list_cases := {
	"anonymous: demo only, the others require authentication": ["demo", gateway_test.anonymous, ["demo"]],
	"developer: owner of files, warehouse shares query, ops shares nothing": ["demo", gateway_test.developer, ["demo", "files", "warehouse"]],
	"admin: every grant, but ops shares nothing": ["demo", gateway_test.admin, ["demo", "files", "warehouse"]],
	"operator: grants on ops only": ["ops", gateway_test.operator, ["ops"]],
	"analyst: shared files tools, owner of warehouse": ["files", gateway_test.analyst, ["files", "warehouse"]],
	"analyst with low trust: warehouse tools are above it": ["files", gateway_test.analyst_low, ["files"]],
}

test_allow_server_list_shows_the_servers_with_a_callable_tool if {
	failures := {name: got |
		some name, [via, agent, want] in server_list_cases
		d := _listed(via, agent, gateway_test.monday_10)
		got := [d.allow, d.visible_servers]
		got != [true, want]
	}
	failures == {}
}

# The list and tool calls must never disagree: a server is listed exactly when
# some tool of its catalogue would be allowed, for any agent and hour.
test_allow_server_list_matches_invoke_rights_for_every_agent if {
	agents := [
		gateway_test.anonymous, gateway_test.developer, gateway_test.developer_data, gateway_test.developer_low,
		gateway_test.admin, gateway_test.admin_data, gateway_test.operator, gateway_test.operator_critical,
		gateway_test.analyst, gateway_test.analyst_low,
	]
	mismatches := {[agent.id, clock.weekday, listed, callable] |
		some agent in agents
		some clock in [gateway_test.monday_10, _saturday_10]
		listed := {id | some id in _listed("demo", agent, clock).visible_servers}
		callable := {id |
			some id, catalog in data.sark.tools
			some name, _ in catalog
			_allows(gateway_test.call_at(id, agent, name, {}, clock))
		}
		listed != callable
	}
	mismatches == set()
}

# Invoke rights do not depend on action grants, so the example roles will do.
_allows(case) if gateway.allow with input as case

test_deny_server_list_without_the_grant_is_empty if {
	every agent in [gateway_test.anonymous, gateway_test.developer, gateway_test.operator] {
		d := gateway.decision with input as gateway_test.request("gateway:server:list", "demo", agent, {})
		not d.allow
		d.reasons[0].code == "action_not_granted"
		d.visible_servers == []
	}
}

test_deny_server_list_via_a_server_the_agent_may_not_use if {
	d := _listed("files", gateway_test.anonymous, gateway_test.monday_10)
	d.reasons[0].code == "authentication_required"
	d.visible_servers == []
}

test_allow_server_list_with_the_example_data if {
	d := gateway.decision with input as gateway_test.request("gateway:server:list", "demo", gateway_test.admin, {})
	d.allow
	d.visible_servers == ["demo", "files", "warehouse"]
	d.visible_tools == null
	d.cache == {"ttl_seconds": 0, "scope": "none"}
}

test_deny_visible_servers_null_for_other_actions if {
	every case in [
		gateway_test.request("gateway:tools:list", "demo", gateway_test.admin, {}),
		gateway_test.call("demo", gateway_test.admin, "echo", {"text": "hi"}),
		gateway_test.call("demo", gateway_test.anonymous, "delete_file", {}),
		gateway_test.request("gateway:server:ping", "demo", gateway_test.admin, {}),
	] {
		d := gateway.decision with input as case
		d.visible_servers == null
	}
}
