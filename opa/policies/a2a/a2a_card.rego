# SARK agent-to-agent: the target's agent card
#
# The card is what the target says of itself (A2A v1.0, "Agent Card"); SARK
# checked its signature (JWS over the RFC 8785 canonical card) with the keys
# it trusts, and says whether one verified. A registered agent may require a
# signed card, a provider and approved versions (data.sark.agents[id]); a
# message's skill must be one the card lists; a skill whose tags the data
# denies is refused; and the source must meet the skill's security
# requirements (else the card's): one alternative, every scheme in it.
package sark.a2a

# Undefined when no card was presented.
_card := input.target.card if is_object(input.target.card)

_require_signed if _target.require_signed_card == true

_require_signed if data.sark.a2a_rules.require_signed_cards == true

_deny contains _reason("target_card_unverified", "the target's agent card carries no signature SARK could verify") if {
	_require_signed
	not _card.signature.verified
}

# The provider and version a registered agent pins are checked on the card
# presented; to require a card at all, require it signed.
_deny contains _reason("target_provider_mismatch", "the target's agent card names another provider than the one registered") if {
	is_string(_target.provider)
	_card
	not _card.provider.organization == _target.provider
}

_deny contains _reason("target_version_unapproved", "the target's agent card version is not an approved one") if {
	is_array(_target.versions)
	_card
	not _version_approved
}

# Version patterns are globs over dot-separated parts: "2.*.*" is every 2.x.y.
_version_approved if {
	some pattern in _target.versions
	glob.match(pattern, ["."], _card.version)
}

# The card's entry for the skill the operation uses.
_card_skill := skill if {
	some skill in _card.skills
	skill.id == _skill
}

_deny contains _reason("skill_not_in_card", "the target's agent card does not list this skill") if {
	_card
	_skill
	not _card_skill
}

_deny contains _reason("skill_tag_denied", "one of the skill's tags is denied for agent-to-agent calls") if {
	some tag in _card_skill.tags
	tag in data.sark.a2a_rules.denied_skill_tags
}

# The requirements that apply: the skill's own, else the card's (they cover
# every operation); none without a card (the data alone decides then).
_requirements := _card_skill.security if is_array(_card_skill.security)

else := _card.security if is_array(_card.security)

else := []

_deny contains _reason("security_requirements_unmet", "the source did not authenticate as the skill's security requirements ask") if {
	count(_requirements) > 0
	not _requirements_met
}

_requirements_met if {
	some alternative in _requirements
	every scheme in alternative {
		_scheme_met(scheme)
	}
}

# What each kind of scheme takes of the source (SARK's auth_method); OAuth
# and OpenID Connect also every scope the requirement lists.
_scheme_methods := {
	"oauth2": {"jwt"},
	"openid_connect": {"jwt"},
	"http_bearer": {"jwt", "api_key"},
	"api_key": {"api_key"},
	"mtls": {"mesh"},
}

_scheme_met(scheme) if {
	input.source.auth_method in _scheme_methods[scheme.type]
	every scope in scheme.scopes {
		scope in input.source.scopes
	}
}
