//! Output names and the onboarding field each one holds (`prisma-api.md` §4.5).
//!
//! Our configurations ([`crate::builtin`], [`crate::twin`]) use Prisma's names so that a
//! client reading either Prisma's template or ours reads the same outputs. Note the **double
//! underscore** in the subscription names and the single underscore in the tenant ones.
//!
//! Prisma's tenant and Entra-only templates also have `f_consent_link`, a portal URL where an
//! administrator grants admin consent by hand. Our configuration grants the consent itself
//! (`azuread_app_role_assignment`), so it has no such output: [`names_for`] lists only what
//! ours produces, and [`prisma_template_names`] lists Prisma's full set.

use serde::Serialize;

use crate::Scope;

/// Which output holds which onboarding field. `None` means the configuration has no such
/// output for this scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OutputNames {
    /// → `tenantId`.
    pub tenant_id: &'static str,
    /// The application (client) ID → `clientId`.
    pub client_id: &'static str,
    /// The client secret → `key`. The only sensitive output.
    pub client_secret: &'static str,
    /// The service principal ("enterprise application") object ID → `servicePrincipalId`.
    pub service_principal_object_id: &'static str,
    /// → `cloudAccount.accountId`; subscription scope only.
    pub subscription_id: Option<&'static str>,
    /// The secret's end date (RFC 3339). Prisma's templates have it for the tenant and
    /// Entra-only scopes only; ours has it for every scope (the subscription's is
    /// [`SUBSCRIPTION_SECRET_EXPIRY`]), so the dashboard can warn before any secret we
    /// created expires.
    pub secret_expiry: Option<&'static str>,
}

impl OutputNames {
    /// Every output name, in alphabetical order (which is also Prisma's `a_`…`e_` order).
    pub fn all(&self) -> Vec<&'static str> {
        let mut names = vec![
            self.tenant_id,
            self.client_id,
            self.client_secret,
            self.service_principal_object_id,
        ];
        names.extend(self.subscription_id);
        names.extend(self.secret_expiry);
        names.sort_unstable();
        names
    }

    /// Whether `name` is the (sensitive) client-secret output.
    pub fn is_sensitive(&self, name: &str) -> bool {
        name == self.client_secret
    }
}

/// The subscription configuration's secret end date: an output Prisma's subscription template
/// lacks, named in that template's style (double underscore, next letter) so that it sorts
/// after Prisma's five and never clashes with them.
pub const SUBSCRIPTION_SECRET_EXPIRY: &str = "f__application_client_secret_expiration";

const SUBSCRIPTION: OutputNames = OutputNames {
    tenant_id: "a__directory_tenant_id",
    subscription_id: Some("b__subscription_id"),
    client_id: "c__application_client_id",
    client_secret: "d__application_client_secret",
    service_principal_object_id: "e__enterprise_application_object_id",
    secret_expiry: Some(SUBSCRIPTION_SECRET_EXPIRY),
};

const TENANT: OutputNames = OutputNames {
    tenant_id: "a_active_directory_id",
    client_id: "b_application_id",
    client_secret: "c_application_key",
    secret_expiry: Some("d_application_key_expiration"),
    service_principal_object_id: "e_service_principal_object_id",
    subscription_id: None,
};

/// Prisma's consent-link output (tenant and Entra-only templates only).
pub const CONSENT_LINK: &str = "f_consent_link";

const PRISMA_SUBSCRIPTION_NAMES: [&str; 5] = [
    SUBSCRIPTION.tenant_id,
    "b__subscription_id",
    SUBSCRIPTION.client_id,
    SUBSCRIPTION.client_secret,
    SUBSCRIPTION.service_principal_object_id,
];

const PRISMA_TENANT_NAMES: [&str; 6] = [
    TENANT.tenant_id,
    TENANT.client_id,
    TENANT.client_secret,
    "d_application_key_expiration",
    TENANT.service_principal_object_id,
    CONSENT_LINK,
];

/// The outputs of our configurations for `scope`.
pub fn names_for(scope: Scope) -> OutputNames {
    match scope {
        Scope::Subscription => SUBSCRIPTION,
        Scope::TenantWithGroups | Scope::EntraOnly => TENANT,
    }
}

/// The exact output names of **Prisma's** template for `scope` (§4.5), in alphabetical order:
/// [`names_for`] plus [`CONSENT_LINK`] for the tenant scopes, less
/// [`SUBSCRIPTION_SECRET_EXPIRY`] for a subscription.
pub fn prisma_template_names(scope: Scope) -> &'static [&'static str] {
    match scope {
        Scope::Subscription => &PRISMA_SUBSCRIPTION_NAMES,
        Scope::TenantWithGroups | Scope::EntraOnly => &PRISMA_TENANT_NAMES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_per_scope() {
        assert_eq!(
            names_for(Scope::Subscription).all(),
            [
                "a__directory_tenant_id",
                "b__subscription_id",
                "c__application_client_id",
                "d__application_client_secret",
                "e__enterprise_application_object_id",
                "f__application_client_secret_expiration",
            ]
        );
        for scope in [Scope::TenantWithGroups, Scope::EntraOnly] {
            assert_eq!(
                names_for(scope).all(),
                [
                    "a_active_directory_id",
                    "b_application_id",
                    "c_application_key",
                    "d_application_key_expiration",
                    "e_service_principal_object_id",
                ]
            );
        }
    }

    #[test]
    fn prisma_names_are_ours_plus_the_consent_link() {
        for scope in Scope::ALL {
            let mut ours = names_for(scope).all();
            if scope == Scope::Subscription {
                ours.retain(|n| *n != SUBSCRIPTION_SECRET_EXPIRY);
            } else {
                ours.push(CONSENT_LINK);
            }
            assert_eq!(prisma_template_names(scope), &ours[..], "{scope:?}");
        }
        assert!(names_for(Scope::Subscription).is_sensitive("d__application_client_secret"));
        assert!(!names_for(Scope::EntraOnly).is_sensitive("b_application_id"));
    }
}
