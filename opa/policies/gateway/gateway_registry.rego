# SARK gateway: the MCP Gateway Registry's facts
#
# What the MCP Gateway Registry says of a server and its tools, when SARK
# reads one (input.server.registry, input.tool.registry, input.registry;
# docs/registry.md). The registry only restricts: a server it hides from the
# agent, or disables, admits nobody; its sensitivity labels raise a server's
# or tool's sensitivity, never lower it; a server can require the registry's
# word (data.sark.servers[id].registry_required), and then a server the
# registry does not list, a tool it does not list, or no registry data at all
# is a deny. Without registry facts and without the requirement,
# every rule here is silent. Registry: github.com/agentic-community/mcp-gateway-registry
package sark.gateway

import data.sark.lib.levels

_registry := input.server.registry

# The registry's word is required for this server (its registry_required).
_registry_required if _server.registry_required == true

# The registry admits the agent to this server.
_registry_admits if {
	not input.server.registry
	not _registry_required
}

_registry_admits if {
	_registry.listed == true
	_registry_visible
	_registry.enabled != false
}

_registry_admits if {
	_registry.listed == false
	not _registry_required
}

# The groups the registry's allowed_groups name: the agent's roles and teams.
_agent_groups := ({g | some g in input.agent.roles} | {g | some g in input.agent.teams}) | {t | t := input.agent.team; is_string(t)}

_registry_visible if _registry.visibility == "public"

# Private: only its owner, its registrant or a member of its owning team.
_registry_visible if {
	_registry.visibility == "private"
	input.agent.id in {_registry.owner, _registry.registered_by}
}

_registry_visible if {
	_registry.visibility == "private"
	_registry.owner_team in _agent_groups
}

_registry_visible if {
	_registry.visibility in {"group-restricted", "group"}
	some group in _registry.allowed_groups
	group in _agent_groups
}

_deny contains _reason("registry_unavailable", "this MCP server requires the registry's facts and SARK has none") if {
	_server
	_registry_required
	not _registry.available
}

_deny contains _reason("registry_server_unlisted", "the registry does not list this MCP server") if {
	_server
	_registry_required
	_registry.available == true
	_registry.listed == false
}

_deny contains _reason("registry_not_visible", "the registry restricts this MCP server to other agents or groups") if {
	_server
	_registry.listed == true
	not _registry_visible
}

_deny contains _reason("registry_server_disabled", "the registry has disabled this MCP server") if {
	_server
	_registry.listed == true
	_registry.enabled == false
}

_deny contains _reason("registry_tool_unlisted", "the registry does not list this tool for this MCP server") if {
	_tool_checked
	_registry_tool_blocked(input.tool.name)
}

# A tool the registry must vouch for and does not.
_registry_tool_blocked(name) if {
	_registry_required
	not _registry_tool(name).listed
}

# The registry's facts of tool `name`: the called tool's, else the listing's.
_registry_tool(name) := input.tool.registry if {
	input.tool.name == name
	input.tool.registry
} else := input.server.registry.tools[name] if {
	input.server.registry.tools[name]
} else := {"listed": false}

# The ranks of registry sensitivity labels: each through
# data.sark.registry.sensitivity_levels, an unknown label at
# data.sark.registry.unknown_sensitivity (default critical: fail closed).
_registry_ranks(labels) := [levels.rank(_registry_level(label)) | some label in labels]

_registry_level(label) := data.sark.registry.sensitivity_levels[label]

_registry_level(label) := _unknown_sensitivity if not data.sark.registry.sensitivity_levels[label]

default _unknown_sensitivity := "critical"

_unknown_sensitivity := data.sark.registry.unknown_sensitivity

# The server as gateway:server:list judges it: its own registry facts from
# input.registry when SARK reads a registry, none otherwise.
_listed_server(id) := {"id": id, "registry": object.get(input.registry.servers, id, {"available": input.registry.available, "listed": false})} if {
	input.registry
} else := {"id": id}
