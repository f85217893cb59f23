//! The provider configuration block and the AWS clients built from it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::aws_context::AwsContext;
use crate::plugin::validate::LengthBetween;
use crate::plugin::{
    Attribute, AttributePath, Block, BlockNesting, DataSource, Diagnostics, NestedBlock, Provider,
    ProviderData, Resource, Schema, Value,
};
use crate::resources;

#[derive(Default)]
pub struct KarpenterProvider;

impl KarpenterProvider {
    pub fn new() -> Self {
        KarpenterProvider
    }
}

#[async_trait]
impl Provider for KarpenterProvider {
    fn type_name(&self) -> &'static str {
        "karpenter"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "The karpenter provider stands up karpenter-rs (spot-first node autoscaling for \
                     Kubernetes): the node and controller IAM roles, instance profile and controller \
                     policy, the interruption queue and EventBridge rules, an optional CloudFormation \
                     bootstrap stack, Provisioners and the controller installation. An apply stopped \
                     midway, even by SIGKILL, leaves nothing the next apply cannot take over: the IAM \
                     roles, instance profile and policy carry `karpenter.sh/terraform-owner` = \
                     `cluster_name`, Provisioners are written by this provider's server-side-apply \
                     field manager, and an object of the planned name that is marked so but not in \
                     state is taken over with a warning instead of failing on its name (one not \
                     marked is still refused).",
                )
                .attribute(
                    Attribute::string("region")
                        .required()
                        .description("AWS region of the cluster, e.g. `ap-southeast-1`.")
                        .validator(LengthBetween(1, 64)),
                )
                .attribute(
                    Attribute::string("cluster_name")
                        .required()
                        .description("Name of the Kubernetes cluster; names and tags of created objects derive from it.")
                        .validator(LengthBetween(1, 100)),
                )
                .attribute(
                    Attribute::string_map("default_tags")
                        .optional()
                        .description("Tags added to every AWS object this provider creates; a resource's own `tags` win on conflict."),
                )
                .block(
                    NestedBlock::new(
                        "aws",
                        BlockNesting::List,
                        Block::new()
                            .description("How to reach AWS. Without it the standard AWS SDK configuration applies.")
                            .attribute(
                                Attribute::string("endpoint_url")
                                    .optional()
                                    .description("Endpoint for every AWS service (e.g. a local emulator). `AWS_ENDPOINT_URL` is honoured too."),
                            )
                            .attribute(
                                Attribute::string("profile")
                                    .optional()
                                    .description("Named profile from the shared AWS config; else the standard credential chain."),
                            ),
                    )
                    .max_items(1),
                )
                .block(crate::kube::kubernetes_block()),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(url) = first_block(config, "aws").get("endpoint_url").as_str()
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            diags.error_at(
                AttributePath::attr("aws")
                    .push_index(0)
                    .push_attr("endpoint_url"),
                "Invalid endpoint URL",
                format!("{url:?} must start with http:// or https://."),
            );
        }
    }

    async fn configure(&self, config: &Value, diags: &mut Diagnostics) -> Option<ProviderData> {
        let (Some(region), Some(cluster)) = (
            config.get("region").as_str(),
            config.get("cluster_name").as_str(),
        ) else {
            diags.error(
                "Provider configuration incomplete",
                "`region` and `cluster_name` must be known before resources can be managed.",
            );
            return None;
        };
        let aws = first_block(config, "aws");
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()));
        if let Some(p) = aws.get("profile").as_str() {
            loader = loader.profile_name(p);
        }
        if let Some(u) = aws.get("endpoint_url").as_str() {
            loader = loader.endpoint_url(u);
        }
        let sdk = loader.load().await;
        Some(Arc::new(AwsContext {
            region: region.to_string(),
            cluster_name: cluster.to_string(),
            default_tags: config.get("default_tags").as_string_map(),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            sdk: sdk.clone(),
            kube: crate::kube::KubeHandle::from_settings(
                &crate::kube::config::KubeSettings::from_provider_config(config),
            )
            .await,
        }))
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        resources::all()
    }

    fn data_sources(&self) -> Vec<Arc<dyn DataSource>> {
        crate::data_sources::all()
    }
}

/// The object inside a list block of at most one element, or Null.
fn first_block<'a>(config: &'a Value, name: &str) -> &'a Value {
    match config.get(name) {
        Value::List(v) => v.first().unwrap_or(&Value::Null),
        _ => &Value::Null,
    }
}
