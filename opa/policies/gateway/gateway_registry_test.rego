# METADATA
# title: Registry facts tests
# description: |
#   Table-driven: gateway inputs with the MCP Gateway Registry's facts
#   (input.server.registry, input.tool.registry, input.registry), as SARK
#   builds them (src/decide/input.ts), against the example data. The registry
#   only restricts; a server that requires it denies without it.
package sark.gateway_registry_test

import data.sark.gateway
import data.sark.gateway_test

# METADATA
# description: The facts of a server the registry lists, with `fields` over a public default.
listed(fields) := object.union(
	{
		"available": true, "listed": true, "path": "/demo", "name": "Demo", "owner": "carol",
		"owner_team": null, "registered_by": "carol", "sensitivity": [], "tags": [],
		"visibility": "public", "allowed_groups": [], "enabled": true, "lifecycle": "active", "tools_known": true,
	},
	fields,
)

unlisted := {"available": true, "listed": false}

unavailable := {"available": false, "listed": false}

tool_listed(sensitivity) := {"listed": true, "sensitivity": sensitivity, "tags": []}

tool_unlisted := {"listed": false}

# METADATA
# description: A tools/call of `tool` on demo with the registry's server and tool facts.
call(agent, tool, server_facts, tool_facts) := object.union(
	gateway_test.call("demo", agent, tool, {}),
	{"server": {"registry": server_facts}, "tool": {"registry": tool_facts}},
)

# METADATA
# description: Another action on demo with the registry's server facts.
request(action, agent, server_facts, extra) := object.union(
	gateway_test.request(action, "demo", agent, extra),
	{"server": {"registry": server_facts}},
)

_dev := gateway_test.developer

_anon := gateway_test.anonymous

_groups(visibility, groups) := listed({"visibility": visibility, "allowed_groups": groups})

# METADATA
# description: "Allowed: [input, whether demo requires the registry (registry_required)]."
allow_cases := {
	"public server, listed tool": [call(_anon, "echo", listed({}), tool_listed([])), false],
	"unlisted server, registry optional": [call(_anon, "echo", unlisted, tool_unlisted), false],
	"no registry data yet, registry optional": [call(_anon, "echo", unavailable, tool_unlisted), false],
	"group-restricted, a role is allowed": [call(_dev, "echo", _groups("group-restricted", ["developer"]), tool_listed([])), false],
	"group-restricted, the team is allowed": [call(_dev, "echo", _groups("group-restricted", ["platform"]), tool_listed([])), false],
	"legacy group visibility": [call(_dev, "echo", _groups("group", ["platform"]), tool_listed([])), false],
	"private, the owner": [call(_dev, "echo", listed({"visibility": "private", "owner": "dev-1"}), tool_listed([])), false],
	"private, the registrant": [call(_dev, "echo", listed({"visibility": "private", "registered_by": "dev-1"}), tool_listed([])), false],
	"private, the owning team": [call(_dev, "echo", listed({"visibility": "private", "owner_team": "platform"}), tool_listed([])), false],
	"a label within the agent's trust": [call(_dev, "echo", listed({"sensitivity": ["internal"]}), tool_listed(["medium", "public"])), false],
	"unknown enabled flag": [call(_anon, "echo", listed({"enabled": null}), tool_listed([])), false],
	"required: listed server and tool": [call(_anon, "echo", listed({}), tool_listed([])), true],
	"ping on a visible server": [request("gateway:server:ping", _anon, listed({}), {}), false],
	"required: tools/list on a listed server": [request("gateway:tools:list", _anon, listed({"tools": {"echo": tool_listed([])}}), {}), true],
	"resource within the raised sensitivity": [request("gateway:resource:read", _dev, listed({"sensitivity": ["internal"]}), {"resource": {"uri": "demo://readme"}}), false],
}

# METADATA
# description: "Denied: [input, whether demo requires the registry, first reason]."
deny_cases := {
	"private, someone else's": [call(_dev, "echo", listed({"visibility": "private"}), tool_listed([])), false, "registry_not_visible"],
	"private, no owner team": [call(_dev, "echo", listed({"visibility": "private", "owner": null, "registered_by": null}), tool_listed([])), false, "registry_not_visible"],
	"group-restricted, no group of the agent": [call(_dev, "echo", _groups("group-restricted", ["finance"]), tool_listed([])), false, "registry_not_visible"],
	"group-restricted, no groups at all": [call(_dev, "echo", _groups("group-restricted", []), tool_listed([])), false, "registry_not_visible"],
	"a visibility the policy does not know": [call(_dev, "echo", listed({"visibility": "internal-only"}), tool_listed([])), false, "registry_not_visible"],
	"a record never read (no visibility)": [call(_dev, "echo", listed({"visibility": null}), tool_listed([])), false, "registry_not_visible"],
	"disabled in the registry": [call(_anon, "echo", listed({"enabled": false}), tool_listed([])), false, "registry_server_disabled"],
	"server label above the agent's trust": [call(_anon, "echo", listed({"sensitivity": ["confidential"]}), tool_listed([])), false, "trust_insufficient"],
	"tool label above the agent's trust": [call(_dev, "echo", listed({}), tool_listed(["low", "restricted"])), false, "trust_insufficient"],
	"an unknown label ranks high": [call(_dev, "echo", listed({}), tool_listed(["top-secret-ish"])), false, "trust_insufficient"],
	"required: no registry data yet": [call(_anon, "echo", unavailable, tool_unlisted), true, "registry_unavailable"],
	"required: SARK reads no registry": [gateway_test.call("demo", _anon, "echo", {}), true, "registry_unavailable"],
	"required: the server is not listed": [call(_anon, "echo", unlisted, tool_unlisted), true, "registry_server_unlisted"],
	"required: the tool is not listed": [call(_anon, "echo", listed({}), tool_unlisted), true, "registry_tool_unlisted"],
	"ping on a hidden server": [request("gateway:server:ping", _dev, listed({"visibility": "private"}), {}), false, "registry_not_visible"],
	"resource above the raised sensitivity": [request("gateway:resource:read", _dev, listed({"sensitivity": ["secret"]}), {"resource": {"uri": "demo://readme"}}), false, "trust_insufficient"],
	"prompt on a disabled server": [request("gateway:prompt:get", _dev, listed({"enabled": false}), {"prompt": {"name": "p"}}), false, "registry_server_disabled"],
}

_decide(case, required) := d if {
	d := gateway.decision with input as case with data.sark.servers.demo.registry_required as required
}

# Every example server, requiring the registry or not.
_servers(required) := {id: object.union(server, {"registry_required": required}) | some id, server in data.sark.servers}

test_allow_registry_table if {
	failures := {name: d.reasons | some name, [case, required] in allow_cases; d := _decide(case, required); d.allow != true}
	failures == {}
}

test_deny_registry_table if {
	failures := {name: d.reasons |
		some name, [case, required, code] in deny_cases
		d := _decide(case, required)
		_wrong(d, code)
	}
	failures == {}
}

_wrong(d, _) if d.allow != false

_wrong(d, code) if d.reasons[0].code != code

test_deny_only_the_server_that_requires_the_registry if {
	d := gateway.decision with input as gateway_test.call("demo", _anon, "echo", {})
		with data.sark.servers.demo.registry_required as true
	d.reasons[0].code == "registry_unavailable"
	other := gateway.decision with input as gateway_test.call("files", gateway_test.analyst, "read_file", {"path": "/srv/shared/a"})
		with data.sark.servers.demo.registry_required as true
	other.allow
	not gateway._allowed_call with input as gateway_test.call("demo", _anon, "echo", {})
		with data.sark.servers.demo.registry_required as true
}

test_deny_unknown_labels_rank_critical_without_the_setting if {
	d := gateway.decision with input as call(gateway_test.admin_data, "echo", listed({}), tool_listed(["ultra"]))
		with data.sark.registry as {"sensitivity_levels": {}}
		with input.request.time.weekday as "Sunday"
	d.reasons[0].code == "outside_business_hours"
}

# Allowed calls with registry facts take the plain fast path (_allowed_call),
# never the indexed one; the decision equals the full rules' on every case.
test_allow_registry_calls_take_the_plain_fast_path if {
	case := call(_anon, "echo", listed({"sensitivity": ["public"]}), tool_listed(["low"]))
	not gateway._indexed_call with input as case
	gateway._allowed_call with input as case
	plain := gateway_test.call("demo", _anon, "echo", {})
	not gateway._allowed_call with input as plain with data.sark.servers.demo.registry_required as true
	gateway._indexed_call with input as plain
}

test_allow_registry_fast_path_equals_the_full_rules if {
	cases := array.concat([[case, required] | some [case, required] in allow_cases], [[c[0], c[1]] | some c in deny_cases])
	mismatches := {name |
		some [case, required] in cases
		d := gateway.decision with input as case with data.sark.servers.demo.registry_required as required
		full := gateway._full_decision with input as case with data.sark.servers.demo.registry_required as required
		d != full
		name := [case.action, object.get(case, ["tool", "name"], null)]
	}
	mismatches == set()
}

# tools/list shows exactly what a call would allow, with the registry's facts.
test_allow_registry_tools_list_matches_calls if {
	tools := {"echo": tool_listed(["confidential"]), "add": tool_listed([]), "get_time": tool_listed(["internal"])}
	mismatches := {[agent.id, name, required] |
		some agent in [_anon, _dev, gateway_test.admin, gateway_test.developer_low]
		some server_facts in [listed({"tools": tools}), listed({"tools": tools, "visibility": "private"})]
		some required in [false, true]
		list := gateway.decision with input as request("gateway:tools:list", agent, server_facts, {})
			with data.sark.servers.demo.registry_required as required
		visible := {n | some n in list.visible_tools}
		callable := {n |
			some n, _ in data.sark.tools.demo
			gateway.allow with input as call(agent, n, object.remove(server_facts, ["tools"]), object.get(tools, n, tool_unlisted))
				with data.sark.servers.demo.registry_required as required
		}
		some name in (visible | callable)
		not name in (visible & callable)
	}
	mismatches == set()
}

_admin_lists(catalogue, required) := d if {
	d := gateway.decision with input as object.union(
		request("gateway:server:list", gateway_test.admin, listed({}), {}),
		{"registry": catalogue},
	)
		with data.sark.servers as _servers(required)
}

_catalogue(servers) := {"available": true, "servers": servers}

_with_tools(facts, names) := object.union(facts, {"tools": {n: tool_listed([]) | some n in names}})

test_allow_server_list_applies_each_servers_facts if {
	all := {
		"demo": _with_tools(listed({}), ["echo", "add", "get_time", "delete_file"]),
		"files": _with_tools(listed({"path": "/files"}), ["read_file", "list_dir", "write_file", "delete_path"]),
		"warehouse": _with_tools(listed({"path": "/warehouse"}), ["query", "drop_table"]),
	}
	_admin_lists(_catalogue(all), false).visible_servers == ["demo", "files", "warehouse"]

	# files hidden from the admin by the registry; warehouse unlisted (the registry is optional).
	hidden := {"demo": all.demo, "files": object.union(all.files, {"visibility": "private"})}
	_admin_lists(_catalogue(hidden), false).visible_servers == ["demo", "warehouse"]

	# Required: only what the registry lists and shows.
	_admin_lists(_catalogue(hidden), true).visible_servers == ["demo"]

	# Never read: the servers that do not require the registry are judged without it.
	_admin_lists({"available": false, "servers": {}}, false).visible_servers == ["demo", "files", "warehouse"]
}

test_deny_server_list_without_registry_data_when_required if {
	d := _admin_lists({"available": false, "servers": {}}, true)
	d.visible_servers == []
}
