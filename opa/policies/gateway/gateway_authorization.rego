# METADATA
# title: SARK gateway authorization
# description: |
#   Decides every MCP message the sidecar intercepts (input:
#   opa/schemas/input.schema.json; decision: opa/schemas/decision.schema.json).
#   Default deny. A tool call is allowed when the server is registered, a role
#   grants the tool on that server (or the agent's team owns the server), no
#   explicit deny matches, the server's team sharing admits it, the agent's
#   trust reaches the tool's sensitivity, critical tools are called within
#   business hours from the server's environment, and the arguments pass the
#   rules in gateway_arguments.rego. tools/list answers with exactly the tools
#   a call would be allowed for, and the server list with exactly the servers
#   that have such a tool. When SARK reads an MCP Gateway Registry, its facts
#   can only restrict further (gateway_registry.rego).
# related_resources:
#   - ref: https://modelcontextprotocol.io/specification/2025-11-25/server/tools
#     description: MCP tools (tools/list, tools/call)
# schemas:
#   - input: schema["input.schema"]
package sark.gateway

import data.sark.lib.levels

# Session plumbing the sidecar must let through for a session to work at all:
# initialize/discover, ping, notifications, responses to server requests, the
# GET stream and DELETE. Still subject to server registration and its
# authentication requirement.
_session_actions := {
	"gateway:server:connect",
	"gateway:server:ping",
	"gateway:notification",
	"gateway:response",
	"gateway:stream:listen",
	"gateway:session:end",
}

# Actions a role grants by name in `servers[id].actions`.
_grantable_actions := {
	"gateway:resources:list",
	"gateway:prompts:list",
	"gateway:subscriptions:listen",
	"gateway:completion:complete",
	"gateway:logging:set",
	"gateway:task:read",
	"gateway:task:cancel",
	"gateway:server:list",
	"gateway:audit:read",
	"gateway:method:other",
}

_server := data.sark.servers[input.server.id]

# The server's tool catalogue; a direct lookup, so only this server's entry is read.
default _catalog := {}

_catalog := data.sark.tools[input.server.id]

_agent_trust := levels.trust_rank(input.agent)

# The server's sensitivity; registry labels (gateway_registry.rego) can only raise it.
_server_rank := levels.rank(object.get(_server, "sensitivity", "low")) if {
	not input.server.registry
} else := max(array.concat(
	[levels.rank(object.get(_server, "sensitivity", "low"))],
	_registry_ranks(object.get(input.server.registry, "sensitivity", [])),
))

# The role grants that apply here: the server's own entry and the "*" entry.
# An array, not a set: every use is existential, and a set would hash each
# grant object on every decision.
_grants := [grant |
	some role in input.agent.roles
	some key in [input.server.id, "*"]
	grant := data.sark.roles[role].servers[key]
]

_owner if {
	is_string(_server.owner_team)
	input.agent.team == _server.owner_team
}

_authentication_ok if not _server.require_authentication

_authentication_ok if _authenticated

_authenticated if input.agent.authenticated == true

# METADATA
# description: |
#   The server is registered, its authentication requirement is met and the
#   MCP Gateway Registry, when SARK reads one, admits the agent.
server_admits if {
	_server
	_authentication_ok
	_registry_admits
}

## Tools

_matches_any(patterns, name) if {
	some pattern in patterns
	glob.match(pattern, [], name)
}

_tool_granted(name) if {
	some grant in _grants
	_matches_any(object.get(grant, "tools", []), name)
}

# Owners get every tool of their server (explicit denies still apply).
_tool_granted(_) if _owner

_tool_denied(name) if {
	some grant in _grants
	_matches_any(object.get(grant, "deny_tools", []), name)
}

_tool_denied(name) if _matches_any(object.get(_server, "deny_tools", []), name)

# A team-owned server shares only `shared_tools` with other teams.
_tool_unshared(name) if {
	is_string(_server.owner_team)
	not _owner
	not _matches_any(object.get(_server, "shared_tools", []), name)
}

_tool_rank(name) := max([_server_rank, levels.rank(object.get(
	_catalog[name],
	"sensitivity",
	data.sark.sensitivity.default_tool_sensitivity,
))]) if {
	not input.server.registry
} else := max(array.concat(
	[_server_rank, levels.rank(object.get(_catalog[name], "sensitivity", data.sark.sensitivity.default_tool_sensitivity))],
	_registry_ranks(object.get(_registry_tool(name), "sensitivity", [])),
))

_critical(name) if _tool_rank(name) >= levels.rank("critical")

_business_hours if {
	hours := object.get(_server, "business_hours", data.sark.sensitivity.business_hours)
	input.request.time.weekday in hours.weekdays
	input.request.time.hour_utc >= hours.start_hour_utc
	input.request.time.hour_utc < hours.end_hour_utc
}

# "No prod from dev": a server that names its environment takes critical calls
# only from agents of the same environment.
_environment_mismatch if {
	is_string(_server.environment)
	input.agent.environment != _server.environment
}

_environment_mismatch if {
	is_string(_server.environment)
	not _agent_has_environment
}

_agent_has_environment if is_string(input.agent.environment)

# METADATA
# description: |
#   Whether a call to tool `name` passes every rule that does not look at the
#   arguments. The single source of truth for tools/call and tools/list.
tool_permitted(name) if {
	server_admits
	_catalog[name]
	_tool_granted(name)
	not _tool_denied(name)
	not _tool_unshared(name)
	levels.reaches(_agent_trust, _tool_rank(name))
	not _critical_blocked(name)
	not _registry_tool_blocked(name)
}

_critical_blocked(name) if {
	_critical(name)
	_critical_window_closed
}

_critical_window_closed if not _business_hours

_critical_window_closed if _environment_mismatch

# METADATA
# description: The catalogued tools of this server the agent may call, sorted.
visible_tools := sort([name | some name, _ in _catalog; tool_permitted(name)])

# METADATA
# description: |
#   The registered servers the agent may see, sorted: those on which a
#   tools/list would show it at least one tool, i.e. where it could call at
#   least one tool now (arguments aside). Each server is judged by
#   visible_tools itself, with input.server.id set to it, so the list and
#   tools/list cannot disagree; a server whose tools are all hidden (not
#   granted, not shared, above the agent's trust, critical out of hours) is
#   not listed.
visible_servers := sort([id |
	some id, _ in data.sark.servers
	count(visible_tools) > 0 with input.server as _listed_server(id)
])

## Resources and prompts

_resource_permitted(uri) if {
	server_admits
	levels.reaches(_agent_trust, _server_rank)
	not _resource_denied(uri)
	not uri_obfuscated(uri)
	some grant in _grants
	_matches_any(object.get(grant, "resources", []), uri)
}

_resource_denied(uri) if {
	some grant in _grants
	_matches_any(object.get(grant, "deny_resources", []), uri)
}

_prompt_permitted(name) if {
	server_admits
	levels.reaches(_agent_trust, _server_rank)
	some grant in _grants
	_matches_any(object.get(grant, "prompts", []), name)
}

_action_granted(action) if {
	action in _grantable_actions
	some grant in _grants
	action in object.get(grant, "actions", [])
}

## Allow

default allow := false

# METADATA
# description: |
#   The allow bit of the decision: some rule below allows the message and a
#   token-authenticated agent holds every scope it needs (gateway_scopes.rego).
allow if {
	_allowed_by_rules
	not _scope_missing
}

# METADATA
# scope: document
# description: |
#   Bodies that start with an equality on input.action are skipped by OPA's
#   rule index for other actions; tool calls, the hot path, come first.
_allowed_by_rules if {
	input.action == "gateway:tool:invoke"
	tool_permitted(input.tool.name)
	arguments_pass
}

_allowed_by_rules if {
	input.action in _session_actions
	server_admits
}

_allowed_by_rules if {
	input.action == "gateway:tools:list"
	server_admits
}

_allowed_by_rules if {
	input.action in {"gateway:resource:read", "gateway:resource:subscribe"}
	_resource_permitted(input.resource.uri)
}

_allowed_by_rules if {
	input.action == "gateway:prompt:get"
	_prompt_permitted(input.prompt.name)
	arguments_pass
}

_allowed_by_rules if {
	input.action in (_grantable_actions - {"gateway:method:other"})
	server_admits
	_action_granted(input.action)
}

# Unknown methods: only those the server lists, and only for a role granted them.
_allowed_by_rules if {
	input.action == "gateway:method:other"
	server_admits
	_action_granted(input.action)
	input.method in object.get(_server, "allowed_methods", [])
}
