# METADATA
# title: SARK gateway authorization (starter)
# description: |
#   Decides every MCP message the sidecar intercepts. Tools are granted per
#   agent role from data.sark.roles; explicit denies beat grants; anything not
#   allowed is denied. The decision contract is opa/schemas/decision.schema.json.
package sark.gateway

import rego.v1

# Actions that need no grant: session plumbing, discovery and listing.
_open_actions := {
	"gateway:server:connect",
	"gateway:server:ping",
	"gateway:notification",
	"gateway:response",
	"gateway:stream:listen",
	"gateway:session:end",
	"gateway:tools:list",
}

default allow := false

allow if input.action in _open_actions

allow if {
	input.action == "gateway:tool:invoke"
	_tool_granted
	not _tool_denied
}

_tool_granted if {
	some role in input.agent.roles
	some pattern in data.sark.roles[role].tools
	glob.match(pattern, [], input.tool.name)
}

_tool_denied if {
	some role in input.agent.roles
	some pattern in data.sark.roles[role].deny_tools
	glob.match(pattern, [], input.tool.name)
}

_deny_reasons contains {"code": "tool_denied", "message": "this tool is explicitly denied to the agent's role"} if {
	input.action == "gateway:tool:invoke"
	_tool_denied
}

_deny_reasons contains {"code": "tool_not_granted", "message": "no role of the agent grants this tool"} if {
	input.action == "gateway:tool:invoke"
	not _tool_granted
}

_deny_reasons contains {"code": "action_not_allowed", "message": "the policy allows no such action"} if {
	input.action != "gateway:tool:invoke"
	not input.action in _open_actions
}

default _reasons := [{"code": "default_deny", "message": "no rule allows this request"}]

_reasons := [] if allow

_reasons := [r | some r in _deny_reasons] if {
	not allow
	count(_deny_reasons) > 0
}

# METADATA
# description: The decision document the sidecar consumes.
# entrypoint: true
decision := {"allow": allow, "reasons": _reasons}
