//! `karpenter_instance_profile`: the instance profile launch templates name so that nodes get
//! the node role.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata as _;

use super::common::{aws, aws_error, sdk_error_text, tags_for_state};
use super::iam_common::{
    IamName, RetryEnd, iam, iam_tags, is_no_such_entity, retry_eventual, stale_keys, tag_map,
    timeout_of, timeouts_block, validate_timeouts,
};
use crate::plugin::{
    Attribute, Block, CallContext, Diagnostics, Importer, PlannedChange, Resource, Schema, Value,
};
use crate::provider::AwsContext;

pub struct InstanceProfile;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl InstanceProfile {
    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let client = iam(aws);
        let profile = match client
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(o) => o.instance_profile?,
            Err(e) => {
                if !e.as_service_error().is_some_and(is_no_such_entity) {
                    aws_error(
                        diags,
                        "iam:GetInstanceProfile",
                        &format!("instance profile {name}"),
                        &sdk_error_text(&e),
                    );
                }
                return None;
            }
        };
        let tags = match client
            .list_instance_profile_tags()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(o) => tag_map(o.tags()),
            Err(e) => {
                aws_error(
                    diags,
                    "iam:ListInstanceProfileTags",
                    &format!("instance profile {name}"),
                    &sdk_error_text(&e),
                );
                return None;
            }
        };
        // A profile holds at most one role; none means someone removed it: the plan adds it back.
        let role = profile
            .roles()
            .first()
            .map(|r| Value::string(r.role_name()))
            .unwrap_or(Value::Null);
        Some(Value::object([
            ("name", Value::string(name)),
            ("role_name", role),
            ("arn", Value::string(profile.arn())),
            ("tags", tags_for_state(&tags, aws, prior)),
            ("timeouts", prior.get("timeouts").clone()),
        ]))
    }

    async fn add_role(
        &self,
        ctx: &CallContext,
        client: &aws_sdk_iam::Client,
        name: &str,
        role: &str,
        timeout: Duration,
        diags: &mut Diagnostics,
    ) -> bool {
        // A role created a moment ago may not be visible to this call yet.
        let r = retry_eventual(ctx, timeout, || {
            client
                .add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(role)
                .send()
        })
        .await;
        match r {
            Ok(_) => true,
            Err(RetryEnd::Failed(e)) => {
                let mut why = sdk_error_text(&e);
                if is_no_such_entity(&e) {
                    why.push_str(&format!(
                        "\n\nNo role named {role:?} exists: check `role_name`."
                    ));
                }
                aws_error(
                    diags,
                    "iam:AddRoleToInstanceProfile",
                    &format!("instance profile {name}"),
                    &why,
                );
                false
            }
            Err(RetryEnd::Cancelled) => {
                diags.error(
                    "Interrupted while adding the role",
                    format!("The instance profile {name} exists and is recorded in state; run apply again."),
                );
                false
            }
        }
    }
}

#[async_trait]
impl Resource for InstanceProfile {
    fn type_name(&self) -> &'static str {
        "karpenter_instance_profile"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "The IAM instance profile carrying the node role; nodes launched by karpenter-rs use it.",
                )
                .attribute(
                    Attribute::string("name")
                        .optional()
                        .computed()
                        .description("Instance profile name. Defaults to `KarpenterNodeInstanceProfile-<cluster_name>`.")
                        .validator(IamName(128))
                        .requires_replace()
                        .use_state_for_unknown(),
                )
                .attribute(
                    Attribute::string("role_name")
                        .required()
                        .description("Name of the role in the profile (`karpenter_node_role.<name>.name`). Changes in place.")
                        .validator(IamName(64)),
                )
                .attribute(Attribute::string_map("tags").optional().description("Tags of the instance profile, added to the provider's `default_tags`."))
                .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Instance profile ARN."))
                .block(timeouts_block(&["create"], "2m")),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_timeouts(config, &["create"], diags);
    }

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        _prior: &Value,
        _config: &Value,
        plan: &mut PlannedChange,
        _diags: &mut Diagnostics,
    ) {
        if plan.planned.is_null() || !plan.planned.get("name").is_unknown() {
            return;
        }
        if let Some(aws) = ctx.provider_data::<AwsContext>() {
            plan.planned.set(
                "name",
                Value::string(format!("KarpenterNodeInstanceProfile-{}", aws.cluster_name)),
            );
        }
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let client = iam(&aws);
        let name = planned.get("name").as_str().unwrap_or_default().to_string();
        let tags = iam_tags(&aws.merged_tags(planned.get("tags")), diags)?;
        let arn = match client
            .create_instance_profile()
            .instance_profile_name(&name)
            .set_tags(Some(tags).filter(|t| !t.is_empty()))
            .send()
            .await
        {
            Ok(o) => o.instance_profile.map(|p| p.arn).unwrap_or_default(),
            Err(e) => {
                let why = if e.code() == Some("EntityAlreadyExists") {
                    format!(
                        "An instance profile named {name} already exists: import it or choose another name."
                    )
                } else {
                    sdk_error_text(&e)
                };
                aws_error(
                    diags,
                    "iam:CreateInstanceProfile",
                    &format!("instance profile {name}"),
                    &why,
                );
                return None;
            }
        };
        let mut state = planned.clone();
        state.set("arn", Value::string(arn));
        let role = planned.get("role_name").as_str().unwrap_or_default();
        let timeout = timeout_of(planned, "create", DEFAULT_TIMEOUT);
        if !self
            .add_role(ctx, &client, &name, role, timeout, diags)
            .await
        {
            // The profile exists without its role; the next plan shows role_name to add.
            state.set("role_name", Value::Null);
        }
        Some(state)
    }

    async fn read(
        &self,
        ctx: &CallContext,
        state: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let name = state.get("name").as_str()?.to_string();
        self.fetch(&aws, &name, state, diags).await
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let client = iam(&aws);
        let name = prior.get("name").as_str()?.to_string();
        let what = format!("instance profile {name}");
        if planned.get("role_name") != prior.get("role_name") {
            if let Some(old) = prior.get("role_name").as_str()
                && let Err(e) = client
                    .remove_role_from_instance_profile()
                    .instance_profile_name(&name)
                    .role_name(old)
                    .send()
                    .await
                && !e.as_service_error().is_some_and(is_no_such_entity)
            {
                aws_error(
                    diags,
                    "iam:RemoveRoleFromInstanceProfile",
                    &what,
                    &sdk_error_text(&e),
                );
                return None;
            }
            let role = planned.get("role_name").as_str().unwrap_or_default();
            if !self
                .add_role(
                    ctx,
                    &client,
                    &name,
                    role,
                    timeout_of(planned, "create", DEFAULT_TIMEOUT),
                    diags,
                )
                .await
            {
                return None;
            }
        }
        let had = aws.merged_tags(prior.get("tags"));
        let want = aws.merged_tags(planned.get("tags"));
        let stale = stale_keys(&had, &want);
        if !stale.is_empty()
            && let Err(e) = client
                .untag_instance_profile()
                .instance_profile_name(&name)
                .set_tag_keys(Some(stale))
                .send()
                .await
        {
            aws_error(
                diags,
                "iam:UntagInstanceProfile",
                &what,
                &sdk_error_text(&e),
            );
            return None;
        }
        if want != had && !want.is_empty() {
            let tags = iam_tags(&want, diags)?;
            if let Err(e) = client
                .tag_instance_profile()
                .instance_profile_name(&name)
                .set_tags(Some(tags))
                .send()
                .await
            {
                aws_error(diags, "iam:TagInstanceProfile", &what, &sdk_error_text(&e));
                return None;
            }
        }
        Some(planned.clone())
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(aws) = aws(ctx, diags) else { return };
        let Some(name) = prior.get("name").as_str() else {
            return;
        };
        let client = iam(&aws);
        let what = format!("instance profile {name}");
        // IAM refuses to delete a profile that still holds a role; remove whatever role it holds.
        if let Ok(o) = client
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            for r in o.instance_profile.map(|p| p.roles).unwrap_or_default() {
                if let Err(e) = client
                    .remove_role_from_instance_profile()
                    .instance_profile_name(name)
                    .role_name(r.role_name())
                    .send()
                    .await
                {
                    aws_error(
                        diags,
                        "iam:RemoveRoleFromInstanceProfile",
                        &what,
                        &sdk_error_text(&e),
                    );
                    return;
                }
            }
        }
        if let Err(e) = client
            .delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            && !e.as_service_error().is_some_and(is_no_such_entity)
        {
            aws_error(
                diags,
                "iam:DeleteInstanceProfile",
                &what,
                &sdk_error_text(&e),
            );
        }
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

#[async_trait]
impl Importer for InstanceProfile {
    fn id_description(&self) -> String {
        "the instance profile name".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let state = self.fetch(&aws, id, &Value::Null, diags).await;
        if state.is_none() && !diags.has_errors() {
            diags.error(
                "Instance profile not found",
                format!("No IAM instance profile named {id:?} exists."),
            );
        }
        state
    }
}
