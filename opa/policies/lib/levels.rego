# METADATA
# title: Sensitivity and trust levels
# description: |
#   One ordered scale (data.sark.sensitivity.levels) for what a tool, server or
#   capability needs and what an agent is trusted with; shared by the gateway
#   and agent-to-agent policies so both compare levels the same way.
package sark.lib.levels

# METADATA
# scope: document
# description: The rank of a level name; unknown or missing names rank 0 (no trust, no sensitivity).
default rank(_) := 0

rank(level) := data.sark.sensitivity.levels[level]

# METADATA
# description: |
#   An agent's trust rank: its own trust_level when set; otherwise the highest
#   trust its roles confer; otherwise the configured default.
trust_rank(agent) := rank(agent.trust_level) if {
	is_string(agent.trust_level)
} else := max(role_ranks) if {
	# Reads only each role's trust_level leaf, not the whole role document.
	role_ranks := [rank(level) | some name in agent.roles; level := data.sark.roles[name].trust_level; is_string(level)]
	count(role_ranks) > 0
} else := rank(data.sark.sensitivity.default_trust_level)

# METADATA
# description: True when an agent of trust rank `trust` may use something of sensitivity rank `needed`.
reaches(trust, needed) if trust >= needed
