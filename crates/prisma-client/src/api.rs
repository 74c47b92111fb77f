//! The endpoints, typed. Every method takes validated input and returns the wire models with
//! the reference's field names.
//!
//! Creates (add account, create account group) are never blindly re-sent after an ambiguous
//! failure: the client reads back what it sent and reconciles. `duplicate_cloud_account` for
//! the account it is adding is success, reported as [`Outcome::Adopted`].

use std::time::{Duration, Instant};

use prisma_types::feature::{Environment, FeatureSet};
use prisma_types::wire::{
    AccountGroup, AccountGroupRequest, AzureAccountView, ChildrenCloudAccount, CloudAccountDetails,
    CloudAccountListItem, CloudAccountName, CloudAccountStatus, ConfigStatusItem, FeaturesRequest,
    FeaturesResponse, HierarchyNode, ListChildrenRequest, TemplateRequest,
};
use prisma_types::{AzureAccount, SubscriptionId, TenantId};
use serde::Serialize;

use crate::client::{Call, PrismaClient};
use crate::error::Error;
use crate::events::ClientEvent;

/// How a create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// We created it (possibly confirmed by reading back after an ambiguous failure).
    Created,
    /// It already existed; we took it over as it is.
    Adopted,
}

/// The result of [`PrismaClient::add_azure_account`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    pub account_id: String,
    pub outcome: Outcome,
    /// True when the first answer was ambiguous and reading back settled it.
    pub reconciled: bool,
}

/// Which template to ask for.
#[derive(Debug, Clone)]
pub enum TemplateScope {
    Subscription {
        tenant_id: TenantId,
        subscription_id: SubscriptionId,
    },
    TenantWithGroups {
        tenant_id: TenantId,
    },
    EntraOnly {
        tenant_id: TenantId,
    },
}

/// The account shape `/cas/v1/features` is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureScope {
    Subscription,
    TenantWithGroups,
    EntraOnly,
}

fn account_path_id(id: &str) -> Result<String, Error> {
    Ok(TenantId::parse_as("account_id", id)?.to_string())
}

impl PrismaClient {
    /// `POST /cas/v1/features/cloud/azure`.
    pub async fn supported_features(
        &self,
        scope: FeatureScope,
        environment: Environment,
    ) -> Result<FeaturesResponse, Error> {
        let (account_type, root_sync) = match scope {
            FeatureScope::Subscription => ("account", None),
            FeatureScope::TenantWithGroups => ("tenant", Some(true)),
            FeatureScope::EntraOnly => ("tenant", None),
        };
        let body = FeaturesRequest {
            account_type: account_type.to_owned(),
            deployment_type: Some(environment.as_str().to_owned()),
            root_sync_enabled: root_sync,
            aws_partition: None,
        };
        let call = Call::new(
            "POST /cas/v1/features/cloud/{cloud_type}",
            "/cas/v1/features/cloud/azure",
        )
        .json(&body)
        .idempotent();
        self.execute_json(call).await
    }

    /// `POST /cas/v1/azure_template`: the Terraform JSON configuration, as delivered.
    pub async fn azure_template(
        &self,
        scope: &TemplateScope,
        features: &FeatureSet,
        environment: Environment,
    ) -> Result<serde_json::Value, Error> {
        if environment == Environment::AzureChina {
            return Err(Error::Invalid(prisma_types::ValidationError::new(
                "environment",
                "Prisma offers no template for Azure China; onboard with an existing service principal",
            )));
        }
        let (account_type, tenant, subscription, root_sync) = match scope {
            TemplateScope::Subscription {
                tenant_id,
                subscription_id,
            } => (
                "account",
                tenant_id,
                Some(subscription_id.to_string()),
                None,
            ),
            TemplateScope::TenantWithGroups { tenant_id } => {
                ("tenant", tenant_id, None, Some(true))
            }
            TemplateScope::EntraOnly { tenant_id } => ("tenant", tenant_id, None, Some(false)),
        };
        let body = TemplateRequest {
            account_type: account_type.to_owned(),
            tenant_id: tenant.to_string(),
            subscription_id: subscription,
            root_sync_enabled: root_sync,
            features: Some(features.display_names()),
            deployment_type: Some(environment.as_str().to_owned()),
            file_name: None,
        };
        let call = Call::new("POST /cas/v1/azure_template", "/cas/v1/azure_template")
            .json(&body)
            .idempotent();
        self.execute_json(call).await
    }

    /// `POST /cas/v1/cloud_account/status/azure`: the pre-flight capability checks.
    pub async fn status_check(
        &self,
        account: &AzureAccount,
    ) -> Result<Vec<CloudAccountStatus>, Error> {
        let call = Call::new(
            "POST /cas/v1/cloud_account/status/azure",
            "/cas/v1/cloud_account/status/azure",
        )
        .json(&account.to_wire())
        .idempotent();
        self.execute_json(call).await
    }

    /// `POST /cas/v1/azure_account`, safely: an ambiguous failure is reconciled by reading the
    /// account back (and re-sending only when it is not there), and `duplicate_cloud_account`
    /// is adoption. Status checks are skipped (`skipStatusChecks=true`) when asked, so they can
    /// run as their own visible step.
    pub async fn add_azure_account(
        &self,
        account: &AzureAccount,
        skip_status_checks: bool,
    ) -> Result<Registration, Error> {
        let endpoint = "POST /cas/v1/azure_account";
        let account_id = account.account_id().to_owned();
        let body = account.to_wire();
        let deadline = Instant::now() + self.config().retry.call_deadline;
        let mut reconciled = false;
        loop {
            let call = Call::new(endpoint, "/cas/v1/azure_account")
                .query("skipStatusChecks", skip_status_checks.to_string())
                .json(&body);
            let error = match self.execute(call).await {
                Ok(_) => {
                    return Ok(Registration {
                        account_id,
                        outcome: Outcome::Created,
                        reconciled,
                    });
                }
                Err(e) if e.has_key("duplicate_cloud_account") => {
                    let outcome = Outcome::Adopted;
                    if reconciled {
                        self.emit(ClientEvent::Reconciled {
                            endpoint: endpoint.into(),
                            account_id: account_id.clone(),
                            outcome: "adopted".into(),
                        });
                    }
                    return Ok(Registration {
                        account_id,
                        outcome,
                        reconciled,
                    });
                }
                Err(e) if e.is_ambiguous() => e,
                Err(e) => return Err(e),
            };
            // The request may have been committed. Look before sending it again.
            reconciled = true;
            tracing::debug!(endpoint, error = %error, "ambiguous create; reading back");
            if self.get_azure_account(&account_id).await?.is_some() {
                self.emit(ClientEvent::Reconciled {
                    endpoint: endpoint.into(),
                    account_id: account_id.clone(),
                    outcome: "created".into(),
                });
                return Ok(Registration {
                    account_id,
                    outcome: Outcome::Created,
                    reconciled,
                });
            }
            if Instant::now() >= deadline {
                return Err(error);
            }
            // Not readable (it may not exist, or not be visible yet): re-sending is safe now,
            // because a committed first attempt turns into duplicate_cloud_account → adopted.
        }
    }

    /// `PUT /cas/v1/azure_account/{id}` (idempotent: same body, same result).
    pub async fn update_azure_account(
        &self,
        account: &AzureAccount,
        skip_status_checks: bool,
    ) -> Result<(), Error> {
        let id = account.account_id().to_owned();
        let call = Call::new(
            "PUT /cas/v1/azure_account/{account_id}",
            format!("/cas/v1/azure_account/{id}"),
        )
        .query("skipStatusChecks", skip_status_checks.to_string())
        .json(&account.to_wire());
        self.execute(call).await.map(|_| ())
    }

    /// `PUT /cas/v1/azure_account/{id}` with a body built from a read (drift's reconcile): the
    /// key is the read's masked one, which the platform answers by keeping the stored secret.
    pub async fn update_azure_account_body(
        &self,
        account_id: &str,
        body: &prisma_types::wire::AzureAccountRequest,
        skip_status_checks: bool,
    ) -> Result<(), Error> {
        let id = account_path_id(account_id)?;
        let call = Call::new(
            "PUT /cas/v1/azure_account/{account_id}",
            format!("/cas/v1/azure_account/{id}"),
        )
        .query("skipStatusChecks", skip_status_checks.to_string())
        .json(body);
        self.execute(call).await.map(|_| ())
    }

    /// `GET /account/{id}/config/status`: the capabilities in warning or error, with remediation.
    pub async fn config_status(&self, account_id: &str) -> Result<Vec<ConfigStatusItem>, Error> {
        let id = account_path_id(account_id)?;
        self.execute_json(Call::new(
            "GET /account/{account_id}/config/status",
            format!("/account/{id}/config/status"),
        ))
        .await
    }

    /// `GET /cloud/azure/{id}`.
    pub async fn account_details(&self, account_id: &str) -> Result<CloudAccountDetails, Error> {
        let id = account_path_id(account_id)?;
        self.execute_json(Call::new(
            "GET /cloud/{cloud_type}/{account_id}",
            format!("/cloud/azure/{id}"),
        ))
        .await
    }

    /// `GET /v1/cloudAccounts/azureAccounts/{id}`; `None` when it does not exist (or is not
    /// readable yet).
    pub async fn get_azure_account(
        &self,
        account_id: &str,
    ) -> Result<Option<AzureAccountView>, Error> {
        let id = account_path_id(account_id)?;
        let call = Call::new(
            "GET /v1/cloudAccounts/azureAccounts/{account_id}",
            format!("/v1/cloudAccounts/azureAccounts/{id}"),
        );
        match self.execute_json(call).await {
            Ok(view) => Ok(Some(view)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Polls until a new account is readable (creation is eventually consistent), with a
    /// bounded backoff from 250 ms to 2 s, for at most `timeout`.
    pub async fn wait_until_readable(
        &self,
        account_id: &str,
        timeout: Duration,
    ) -> Result<AzureAccountView, Error> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(250);
        loop {
            if let Some(view) = self.get_azure_account(account_id).await? {
                return Ok(view);
            }
            if Instant::now() + pause > deadline {
                return Err(Error::Api(Box::new(crate::error::ApiError {
                    endpoint: "GET /v1/cloudAccounts/azureAccounts/{account_id}".into(),
                    status: 404,
                    i18n_keys: vec!["not_found".into()],
                    subject: Some(format!(
                        "account {account_id} not readable after {timeout:?}"
                    )),
                    server_message: None,
                    request_id: None,
                    html: false,
                    retry_after: None,
                })));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// `GET /cloud`.
    pub async fn list_accounts(&self) -> Result<Vec<CloudAccountListItem>, Error> {
        self.execute_json(Call::new("GET /cloud", "/cloud")).await
    }

    /// `GET /cloud/name?cloudType=azure`.
    pub async fn list_account_names(&self) -> Result<Vec<CloudAccountName>, Error> {
        self.execute_json(Call::new("GET /cloud/name", "/cloud/name").query("cloudType", "azure"))
            .await
    }

    /// `GET /cloud/group`.
    pub async fn list_account_groups(&self) -> Result<Vec<AccountGroup>, Error> {
        self.execute_json(Call::new("GET /cloud/group", "/cloud/group"))
            .await
    }

    /// `POST /cloud/group`, safely (see [`Self::add_azure_account`]); an existing group of the
    /// same name is adopted.
    pub async fn create_account_group(
        &self,
        name: &str,
        description: &str,
    ) -> Result<(AccountGroup, Outcome), Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::Invalid(prisma_types::ValidationError::new(
                "group_name",
                "must be 1-100 characters",
            )));
        }
        let find = |groups: Vec<AccountGroup>| {
            groups
                .into_iter()
                .find(|g| g.name.eq_ignore_ascii_case(name))
        };
        let body = AccountGroupRequest {
            name: name.to_owned(),
            account_ids: Vec::new(),
            description: Some(description.to_owned()),
        };
        let call = Call::new("POST /cloud/group", "/cloud/group").json(&body);
        match self.execute_json::<AccountGroup>(call).await {
            Ok(group) => Ok((group, Outcome::Created)),
            Err(e) if e.has_key("account_group_name_already_exists") => {
                let group = find(self.list_account_groups().await?).ok_or(e)?;
                Ok((group, Outcome::Adopted))
            }
            Err(e) if e.is_ambiguous() => {
                if let Some(group) = find(self.list_account_groups().await?) {
                    return Ok((group, Outcome::Created));
                }
                let call = Call::new("POST /cloud/group", "/cloud/group").json(&body);
                match self.execute_json::<AccountGroup>(call).await {
                    Ok(group) => Ok((group, Outcome::Created)),
                    Err(e)
                        if e.has_key("account_group_name_already_exists") || e.is_ambiguous() =>
                    {
                        find(self.list_account_groups().await?)
                            .map(|g| (g, Outcome::Created))
                            .ok_or(e)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /cloud-accounts-manager/v1/cloudAccounts/azureAccounts/{parent}/children`: the
    /// management groups and subscriptions under a tenant or management group, as the given
    /// credentials see them.
    pub async fn list_children(
        &self,
        parent_id: &str,
        account: &AzureAccount,
    ) -> Result<Vec<HierarchyNode>, Error> {
        let parent = parent_id.trim();
        if TenantId::parse(parent).is_err() {
            prisma_types::ManagementGroupId::parse_as("parent_id", parent)?;
        }
        let wire = account.to_wire();
        let body = ListChildrenRequest {
            cloud_account: ChildrenCloudAccount {
                account_type: "tenant".into(),
                account_id: account.tenant_id().to_string(),
            },
            client_id: wire.client_id,
            key: wire.key,
            tenant_id: wire.tenant_id,
            service_principal_id: wire.service_principal_id.unwrap_or_default(),
            environment_type: wire.environment_type,
            root_sync_enabled: true,
            monitor_flow_logs: wire.monitor_flow_logs.unwrap_or(false),
        };
        let call = Call::new(
            "POST /cloud-accounts-manager/v1/cloudAccounts/azureAccounts/{parent_id}/children",
            format!("/cloud-accounts-manager/v1/cloudAccounts/azureAccounts/{parent}/children"),
        )
        .json(&body)
        .idempotent();
        self.execute_json(call).await
    }

    /// `PATCH /cloud/{id}/status/{enabled}`.
    pub async fn set_account_enabled(
        &self,
        account_id: &str,
        enabled: bool,
        update_children: bool,
    ) -> Result<(), Error> {
        let id = account_path_id(account_id)?;
        let call = Call::new(
            "PATCH /cloud/{account_id}/status/{enabled}",
            format!("/cloud/{id}/status/{enabled}"),
        )
        .query("updateChildren", update_children.to_string());
        self.execute(call).await.map(|_| ())
    }

    /// `DELETE /cloud/azure/{id}`. A missing account is not an error (the goal is reached).
    pub async fn offboard(&self, account_id: &str) -> Result<(), Error> {
        let id = account_path_id(account_id)?;
        match self
            .execute(Call::new(
                "DELETE /cloud/{cloud_type}/{account_id}",
                format!("/cloud/azure/{id}"),
            ))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
