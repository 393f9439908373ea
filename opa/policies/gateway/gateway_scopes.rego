# SARK gateway OAuth scopes
#
# What an agent authenticated with an OAuth access token (auth_method
# "jwt") must have been granted: the server's `scopes` for any message to
# it, plus the tool's `scopes` for a call (data.sark.servers[id].scopes,
# data.sark.tools[id][name].scopes). A token without them is denied with
# reason insufficient_scope, and the decision's required_scopes lists every
# scope the operation needs, so the sidecar can answer with one step-up
# challenge (MCP authorization, "Scope Challenge Handling"). The agent's
# scopes arrive expanded by the configured scope hierarchy, so plain
# membership is the test here. API keys, mesh identities and the anonymous
# agent have no scopes: roles govern them alone. offline_access is a
# refresh-token request, never an operation's requirement.
# (MCP authorization: https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization)
package sark.gateway

_scoped_agent if input.agent.auth_method == "jwt"

# METADATA
# description: Every scope this message needs from a token-authenticated agent.
operation_scopes contains scope if {
	_scoped_agent
	some scope in object.get(_server, "scopes", [])
	scope != "offline_access"
}

operation_scopes contains scope if {
	_scoped_agent
	_invoke
	some scope in object.get(_catalog, [input.tool.name, "scopes"], [])
	scope != "offline_access"
}

_scope_missing if {
	some scope in operation_scopes
	not scope in input.agent.scopes
}

_deny contains _reason("insufficient_scope", "the access token lacks scopes this operation requires") if _scope_missing

default required_scopes := []

# METADATA
# description: |
#   The scopes to challenge for, sorted: every scope the operation needs
#   when the token lacks any of them; empty otherwise.
required_scopes := sort(operation_scopes) if _scope_missing
