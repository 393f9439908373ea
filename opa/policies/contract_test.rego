# METADATA
# title: Decision contract, Rego side
# description: |
#   Every test input must satisfy its input schema and every decision the
#   decision schema. The schemas are loaded as data under sark_contract by the
#   gate (scripts/policy-gates.ts):
#   opa test opa/policies opa/data sark_contract.input:opa/schemas/input.schema.json ...
package sark.contract_test

import data.sark.a2a
import data.sark.a2a_test
import data.sark.gateway
import data.sark.gateway_registry_test
import data.sark.gateway_test

_gateway_inputs := array.concat(
	array.concat(
		array.concat([case | some case in gateway_test.allow_cases], [case[0] | some case in gateway_test.deny_cases]),
		[gateway_test.call(c[0][0], c[0][1], c[0][2], c[1]) | some c in gateway_test.argument_deny_cases],
	),
	[case[0] | some case in object.union(gateway_registry_test.allow_cases, gateway_registry_test.deny_cases)],
)

_a2a_inputs := array.concat([case | some case in a2a_test.allow_cases], [case[0] | some case in a2a_test.deny_cases])

_invalid(document, schema) := errors if {
	[valid, errors] := json.match_schema(document, schema)
	not valid
}

test_allow_gateway_test_inputs_match_the_input_schema if {
	failures := [[case.action, errors] |
		some case in _gateway_inputs
		case.action != "gateway:bogus"
		errors := _invalid(case, data.sark_contract.input)
	]
	failures == []
}

test_allow_a2a_test_inputs_match_the_a2a_input_schema if {
	failures := [errors | some case in _a2a_inputs; errors := _invalid(case, data.sark_contract.a2a_input)]
	failures == []
}

test_allow_gateway_decisions_match_the_decision_schema if {
	failures := [errors |
		some case in _gateway_inputs
		d := gateway.decision with input as case
		errors := _invalid(d, data.sark_contract.decision)
	]
	failures == []
}

test_allow_a2a_decisions_match_the_decision_schema if {
	failures := [errors |
		some case in _a2a_inputs
		d := a2a.decision with input as case
		errors := _invalid(d, data.sark_contract.decision)
	]
	failures == []
}

test_deny_schema_rejects_a_decision_without_allow if {
	_invalid({"reasons": []}, data.sark_contract.decision)
	_invalid({"allow": "yes", "reasons": []}, data.sark_contract.decision)
	_invalid({"allow": false, "reasons": [{"code": "Bad Code", "message": ""}]}, data.sark_contract.decision)
}
