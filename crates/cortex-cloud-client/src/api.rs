//! Every Cloud Onboarding endpoint (fact sheet §4), typed. Requests are validated before they
//! are sent, so a bad field is refused without a round trip and named the way the API names it.

use cortex_cloud_types::filter::{FilterData, MAX_PAGE, Paging};
use cortex_cloud_types::wire::{
    AccountRow, ApprovedTenant, ApprovedTenants, CreateInstanceTemplate, DeleteInstances,
    EditInstance, EnableDisableAccounts, EnableDisableInstances, GetAccounts, GetApprovedTenants,
    GetIdentifiers, GetInstances, Identifiers, InstanceDetails, InstanceRef, InstanceRow,
    ListRegions, Page, Region, Regions, TemplateLinks, check_instance_ids, paths,
};
use cortex_cloud_types::{CloudPartition, CloudProvider, ValidationError, is_instance_id};
use reqwest::Method;
use serde_json::Value;

use crate::client::{Call, CortexClient};
use crate::error::Error;

/// Rows per page when [`CortexClient::all_instances`] / [`CortexClient::all_accounts`] page.
pub const PAGE: u32 = 100;

fn check_id(field: &str, id: &str) -> Result<(), Error> {
    if is_instance_id(id) {
        Ok(())
    } else {
        Err(ValidationError::new(field, "must be an instance ID (32 hexadecimal digits)").into())
    }
}

impl CortexClient {
    /// Creates a pending instance and returns its template links
    /// ([`TemplateLinks::tracking_guid`] is the pending instance's id). Not re-sent after an
    /// ambiguous failure: look the instance up instead.
    pub async fn create_instance_template(
        &self,
        request: &CreateInstanceTemplate,
    ) -> Result<TemplateLinks, Error> {
        request.validate()?;
        self.post(
            "POST create_instance_template",
            paths::CREATE_INSTANCE_TEMPLATE,
            request,
            true,
        )
        .await
    }

    /// One page of instances.
    pub async fn get_instances(&self, filter: &FilterData) -> Result<Page<InstanceRow>, Error> {
        if let Some(p) = &filter.paging {
            p.validate()?;
        }
        let body = GetInstances {
            filter_data: filter.clone(),
        };
        self.post("POST get_instances", paths::GET_INSTANCES, &body, false)
            .await
    }

    /// Every instance that passes `filter`, paging by [`PAGE`].
    pub async fn all_instances(&self, filter: &FilterData) -> Result<Vec<InstanceRow>, Error> {
        let mut out = Vec::new();
        let mut from = 0;
        loop {
            let page = self
                .get_instances(&FilterData {
                    paging: Some(Paging {
                        from,
                        to: from + PAGE,
                    }),
                    ..filter.clone()
                })
                .await?;
            let n = page.data.len() as u32;
            out.extend(page.data);
            from += PAGE;
            if n < PAGE || u64::from(from) >= page.filter_count || from >= 100 * MAX_PAGE {
                return Ok(out);
            }
        }
    }

    pub async fn get_instance_details(&self, id: &str) -> Result<InstanceDetails, Error> {
        check_id("id", id)?;
        let body = InstanceRef { id: id.to_owned() };
        self.post(
            "POST get_instance_details",
            paths::GET_INSTANCE_DETAILS,
            &body,
            false,
        )
        .await
    }

    /// Changes an instance; the changes stay pending until the returned template runs.
    pub async fn edit_instance(&self, request: &EditInstance) -> Result<TemplateLinks, Error> {
        request.validate()?;
        self.post("POST edit_instance", paths::EDIT_INSTANCE, request, true)
            .await
    }

    pub async fn enable_disable_instances(
        &self,
        ids: &[String],
        enable: bool,
    ) -> Result<(), Error> {
        check_instance_ids("ids", ids)?;
        let body = EnableDisableInstances {
            ids: ids.to_vec(),
            enable,
        };
        let _: Value = self
            .post(
                "POST enable_disable_instance",
                paths::ENABLE_DISABLE_INSTANCE,
                &body,
                false,
            )
            .await?;
        Ok(())
    }

    /// Deletes instances in Cortex (the Azure resources the template created stay).
    pub async fn delete_instances(&self, ids: &[String]) -> Result<(), Error> {
        check_instance_ids("ids", ids)?;
        let body = DeleteInstances { ids: ids.to_vec() };
        let _: Value = self
            .post("POST delete_instance", paths::DELETE_INSTANCE, &body, false)
            .await?;
        Ok(())
    }

    /// One page of an instance's accounts (Azure subscriptions).
    pub async fn get_accounts(
        &self,
        instance_id: &str,
        filter: &FilterData,
    ) -> Result<Page<AccountRow>, Error> {
        check_id("instance_id", instance_id)?;
        if let Some(p) = &filter.paging {
            p.validate()?;
        }
        let body = GetAccounts {
            instance_id: instance_id.to_owned(),
            filter_data: filter.clone(),
        };
        self.post("POST get_accounts", paths::GET_ACCOUNTS, &body, false)
            .await
    }

    /// Every account of an instance, paging by [`PAGE`].
    pub async fn all_accounts(&self, instance_id: &str) -> Result<Vec<AccountRow>, Error> {
        let mut out = Vec::new();
        let mut from = 0;
        loop {
            let page = self
                .get_accounts(instance_id, &FilterData::new().page(from, from + PAGE))
                .await?;
            let n = page.data.len() as u32;
            out.extend(page.data);
            from += PAGE;
            if n < PAGE || u64::from(from) >= page.filter_count || from >= 100 * MAX_PAGE {
                return Ok(out);
            }
        }
    }

    pub async fn enable_disable_accounts(
        &self,
        instance_id: &str,
        account_ids: &[String],
        enable: bool,
    ) -> Result<(), Error> {
        check_id("instance_id", instance_id)?;
        if account_ids.is_empty() {
            return Err(ValidationError::new("ids", "must list at least one account ID").into());
        }
        let body = EnableDisableAccounts {
            ids: account_ids.to_vec(),
            instance_id: instance_id.to_owned(),
            enable,
        };
        let _: Value = self
            .post(
                "POST enable_disable_account",
                paths::ENABLE_DISABLE_ACCOUNT,
                &body,
                false,
            )
            .await?;
        Ok(())
    }

    /// Tenants that approved the Cortex Cloud application (only those can be onboarded).
    pub async fn approved_tenants(
        &self,
        partition: Option<CloudPartition>,
    ) -> Result<Vec<ApprovedTenant>, Error> {
        let body = GetApprovedTenants {
            cloud_partition: partition,
        };
        let reply: ApprovedTenants = self
            .post(
                "POST get_azure_approved_tenants",
                paths::GET_AZURE_APPROVED_TENANTS,
                &body,
                false,
            )
            .await?;
        Ok(reply.tenants)
    }

    /// Azure regions, for include/exclude lists.
    pub async fn list_regions(&self) -> Result<Vec<Region>, Error> {
        let body = ListRegions {
            cloud_provider: CloudProvider::Azure,
            cloud_partition: None,
        };
        let reply: Regions = self
            .post("POST list_regions", paths::LIST_REGIONS, &body, false)
            .await?;
        Ok(reply.into_vec())
    }

    /// The identities Cortex acts as for an instance, with their roles.
    pub async fn get_identifiers(&self, instance_id: &str) -> Result<Identifiers, Error> {
        check_id("instance_id", instance_id)?;
        let body = GetIdentifiers {
            instance_id: instance_id.to_owned(),
            cloud_provider: CloudProvider::Azure,
        };
        self.post("POST get_identifiers", paths::GET_IDENTIFIERS, &body, false)
            .await
    }

    /// Checks the key: `Ok` when the service accepts it; a refused key is a 401 error whose
    /// text says what to check.
    pub async fn validate_key(&self) -> Result<(), Error> {
        let call = Call {
            endpoint: "GET api_keys/validate",
            method: Method::GET,
            path: paths::VALIDATE_KEY,
            body: None,
            creates: false,
        };
        let (status, body) = self.execute(call).await?;
        match platform_http::body::decode_json::<Value>(&body) {
            Ok(Value::Bool(true)) => Ok(()),
            Ok(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(()),
            _ => Err(Error::Decode {
                endpoint: "GET api_keys/validate".into(),
                status,
                message: "expected true".into(),
            }),
        }
    }
}
