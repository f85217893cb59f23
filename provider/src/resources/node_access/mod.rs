//! `karpenter_node_access`: lets instances with the node role join the cluster, either as an EKS
//! access entry of type EC2_LINUX (clusters authenticating through the EKS API) or as a `mapRoles`
//! entry in kube-system/aws-auth, merged with the entries already there and removed on destroy.

mod aws_auth;

use async_trait::async_trait;
use aws_sdk_eks::types::AuthenticationMode;

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::{
    Attribute, AttributePath, Block, CallContext, Diagnostics, Model, PlannedChange, Read,
    Resource, Schema, Value,
};
use crate::resources::aws::context;
use crate::resources::aws::errors::{aws_error, sdk_error_text};
use crate::resources::aws::identifiers::Arn;
use crate::resources::framework::decode_model;
use aws_auth::Change;

pub struct NodeAccess;

const TYPE_NAME: &str = "karpenter_node_access";

model! {
    pub struct Access {
        node_role_arn: String,
        mode: Option<String>,
        username: Option<String>,
    }
}

pub const ACCESS_ENTRY: &str = "access_entry";
pub const AWS_AUTH: &str = "aws_auth";

/// Which mechanism the cluster uses: the EKS API when its authentication mode includes it.
async fn detect_mode(a: &AwsContext, cluster: &str, diags: &mut Diagnostics) -> String {
    let eks = aws_sdk_eks::Client::new(&a.sdk);
    match eks.describe_cluster().name(cluster).send().await {
        Ok(o) => {
            let mode = o
                .cluster()
                .and_then(|c| c.access_config())
                .and_then(|ac| ac.authentication_mode().cloned());
            match mode {
                Some(AuthenticationMode::Api | AuthenticationMode::ApiAndConfigMap) => {
                    ACCESS_ENTRY.into()
                }
                _ => AWS_AUTH.into(),
            }
        }
        Err(e) => {
            diags.warning(
                "EKS cluster not found; using aws-auth",
                format!(
                    "eks:DescribeCluster for {cluster:?} failed ({}), so the cluster's authentication mode is unknown. \
                     The node role is mapped in kube-system/aws-auth; set `mode` to choose explicitly.",
                    sdk_error_text(&e)
                ),
            );
            AWS_AUTH.into()
        }
    }
}

fn is_not_found<E: aws_sdk_eks::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundException")
}

#[async_trait]
impl Resource for NodeAccess {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "Lets nodes launched with the node role register with the cluster: an EKS access entry of type \
                     `EC2_LINUX` when the cluster authenticates through the EKS API, else the role's `mapRoles` entry in \
                     kube-system/aws-auth, merged with the other entries (never clobbering them) and removed on destroy. \
                     An aws-auth ConfigMap the provider had to create is deleted once that leaves it empty.",
                )
                .attribute(
                    Attribute::string("node_role_arn")
                        .required()
                        .requires_replace()
                        .validator(Arn::with_resource("iam", "role/"))
                        .description("ARN of the nodes' IAM role (e.g. `karpenter_node_role.node.arn`)."),
                )
                .attribute(
                    Attribute::string("mode")
                        .optional()
                        .computed()
                        .requires_replace()
                        .use_state_for_unknown()
                        .description(
                            "`access_entry` or `aws_auth`. Defaults to what the EKS cluster (the provider's `cluster_name`) \
                             uses; `aws_auth` when the cluster is not found in EKS.",
                        ),
                )
                .attribute(
                    Attribute::string("username")
                        .default_value(Value::string(aws_auth::NODE_USERNAME))
                        .description("Kubernetes user name of the nodes (aws-auth only)."),
                ),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(m) = config.get("mode").as_str()
            && m != ACCESS_ENTRY
            && m != AWS_AUTH
        {
            diags.error_at(
                AttributePath::attr("mode"),
                "Invalid mode",
                format!("{m:?} must be `{ACCESS_ENTRY}` or `{AWS_AUTH}`."),
            );
        }
    }

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        _prior: &Value,
        _config: &Value,
        plan: &mut PlannedChange,
        diags: &mut Diagnostics,
    ) {
        if plan.planned.is_null() || !plan.planned.get("mode").is_unknown() {
            return;
        }
        if let Some(a) = ctx.provider_data::<AwsContext>() {
            let mode = detect_mode(&a, &a.cluster_name, diags).await;
            plan.planned.set("mode", Value::string(mode));
        }
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let a = context(ctx, diags)?;
        let want: Access = decode_model(TYPE_NAME, planned, diags)?;
        let arn = want.node_role_arn.clone();
        let mode = match &want.mode {
            Some(m) => m.clone(),
            None => detect_mode(&a, &a.cluster_name, diags).await,
        };
        let state = Access {
            mode: Some(mode.clone()),
            ..want.clone()
        }
        .encode();
        if mode == ACCESS_ENTRY {
            let eks = aws_sdk_eks::Client::new(&a.sdk);
            if let Err(e) = eks
                .create_access_entry()
                .cluster_name(&a.cluster_name)
                .principal_arn(&arn)
                .r#type("EC2_LINUX")
                .send()
                .await
            {
                aws_error(diags, "eks:CreateAccessEntry", &arn, &sdk_error_text(&e));
                return None;
            }
            return Some(state);
        }
        let client = a.kube.client(diags)?;
        let user = want
            .username
            .unwrap_or_else(|| aws_auth::NODE_USERNAME.to_string());
        if let Err(e) = aws_auth::edit(
            &client,
            &Change::Add {
                arn: &arn,
                username: &user,
            },
        )
        .await
        {
            diags.error("Cannot update kube-system/aws-auth", e);
            return None;
        }
        Some(state)
    }

    async fn read(&self, ctx: &CallContext, state: &Value, diags: &mut Diagnostics) -> Read {
        let Some(a) = context(ctx, diags) else {
            return Read::Failed;
        };
        let Some(had) = decode_model::<Access>(TYPE_NAME, state, diags) else {
            return Read::Failed;
        };
        let arn = had.node_role_arn.clone();
        if had.mode.as_deref() == Some(ACCESS_ENTRY) {
            let eks = aws_sdk_eks::Client::new(&a.sdk);
            return match eks
                .describe_access_entry()
                .cluster_name(&a.cluster_name)
                .principal_arn(&arn)
                .send()
                .await
            {
                Ok(_) => Read::Found(state.clone()),
                Err(e) if e.as_service_error().is_some_and(is_not_found) => Read::Gone,
                Err(e) => {
                    aws_error(diags, "eks:DescribeAccessEntry", &arn, &sdk_error_text(&e));
                    Read::Failed
                }
            };
        }
        let Some(client) = a.kube.client(diags) else {
            return Read::Failed;
        };
        match aws_auth::find(&client, &arn).await {
            Ok(Some(username)) => Read::Found(
                Access {
                    username: Some(username),
                    ..had
                }
                .encode(),
            ),
            Ok(None) => Read::Gone,
            Err(e) => {
                diags.error("Cannot read kube-system/aws-auth", e);
                Read::Failed
            }
        }
    }

    async fn update(
        &self,
        ctx: &CallContext,
        _prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        // Only `username` can change in place (the rest forces replacement).
        self.create(ctx, planned, diags).await
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(a) = context(ctx, diags) else { return };
        let Some(had) = decode_model::<Access>(TYPE_NAME, prior, diags) else {
            return;
        };
        let arn = had.node_role_arn.as_str();
        if had.mode.as_deref() == Some(ACCESS_ENTRY) {
            let eks = aws_sdk_eks::Client::new(&a.sdk);
            if let Err(e) = eks
                .delete_access_entry()
                .cluster_name(&a.cluster_name)
                .principal_arn(arn)
                .send()
                .await
                && !e.as_service_error().is_some_and(is_not_found)
            {
                aws_error(diags, "eks:DeleteAccessEntry", arn, &sdk_error_text(&e));
            }
            return;
        }
        let Some(client) = a.kube.client(diags) else {
            return;
        };
        if let Err(e) = aws_auth::edit(&client, &Change::Remove { arn }).await {
            diags.error("Cannot update kube-system/aws-auth", e);
        }
    }
}
