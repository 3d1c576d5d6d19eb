# An external policy for reconciler's JSON plan, for OPA (https://www.openpolicyagent.org) or conftest.
#
#   reconciler plan -f access/ --format json > plan.json
#   conftest test --policy examples/policy plan.json
#   opa eval --fail-defined -d examples/policy -i plan.json 'data.main.deny[msg]'
#
# The JSON plan carries the results of the configuration's own `policies:` (policy_results: policy, level, kind,
# workspace, passed, message, detail, members), every change (changes: address, actions, kind, before, after,
# reasons), the role changes and the new admins and builders (role_changes, grants). See docs/governance.md.
package main

import rego.v1

# reconciler refuses a plan that breaks one of its deny policies itself; a plan made by an older version, or
# edited, is caught here too.
deny contains msg if {
	some result in input.policy_results
	not result.passed
	result.level == "deny"
	msg := sprintf("policy %s in workspace %s: %s: %s", [result.policy, result.workspace, result.message, result.detail])
}

# A rule reconciler's own kinds do not express: at most three new admins in one plan.
deny contains msg if {
	admins := [g.email | some g in input.grants; g.role == "admin"]
	count(admins) > 3
	msg := sprintf("%d new admins in one plan (at most 3): %s", [count(admins), concat(", ", admins)])
}

# Destroying a custom group that members still hold needs a second look.
warn contains msg if {
	some change in input.changes
	change.kind == "DestroyGroup"
	change.before.members > 0
	msg := sprintf("%s is destroyed with %d members", [change.address, change.before.members])
}

warn contains msg if {
	some result in input.policy_results
	not result.passed
	result.level == "warn"
	msg := sprintf("policy %s in workspace %s: %s: %s", [result.policy, result.workspace, result.message, result.detail])
}
