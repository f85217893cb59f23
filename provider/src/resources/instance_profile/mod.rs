//! `karpenter_instance_profile`: the instance profile launch templates name so that nodes get
//! the node role.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata as _;

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::{Attribute, Block, Diagnostics};
use crate::resources::aws::errors::{aws_error, is_no_such_entity, sdk_error_text};
use crate::resources::aws::iam;
use crate::resources::aws::identifiers::IamName;
use crate::resources::aws::retry::{RetryEnd, retry_eventual};
use crate::resources::aws::tags::{iam_tag_map, iam_tags, stale_keys, tags_for_state};
use crate::resources::framework::{AwsObject, Fetched, Op, Timeouts, default_name};

pub struct InstanceProfile;

model! {
    pub struct Profile {
        name: Option<String>,
        role_name: Option<String>,
        tags: Option<BTreeMap<String, String>>,
        arn: Option<String>,
    }
}

async fn add_role(
    op: &Op<'_>,
    iam: &aws_sdk_iam::Client,
    name: &str,
    role: &str,
    diags: &mut Diagnostics,
) -> bool {
    // A role created a moment ago may not be visible to this call yet.
    let r = retry_eventual(op.ctx, op.timeout, || {
        iam.add_role_to_instance_profile()
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
                format!(
                    "The instance profile {name} exists and is recorded in state; run apply again."
                ),
            );
            false
        }
    }
}

#[async_trait]
impl AwsObject for InstanceProfile {
    type State = Profile;
    const TYPE_NAME: &'static str = "karpenter_instance_profile";
    const NOUN: &'static str = "IAM instance profile";
    const IMPORT_ID: &'static str = "the instance profile name";
    const TIMEOUTS: Timeouts = &[("create", Duration::from_secs(120))];

    fn schema(&self) -> Block {
        Block::new()
        .description(
            "The IAM instance profile carrying the node role; nodes launched by karpenter-rs use it.",
        )
        .attribute(
            Attribute::string("name")
                .optional()
                .computed()
                .description("Instance profile name.")
            .plan_modifier(default_name("KarpenterNodeInstanceProfile-<cluster_name>", |aws| {
                format!("KarpenterNodeInstanceProfile-{}", aws.cluster_name)
            }))
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
    }

    fn locator(state: &Profile) -> Option<String> {
        state.name.clone()
    }

    fn imported(id: &str, _locator: &str) -> Profile {
        Profile {
            name: Some(id.to_string()),
            ..Profile::default()
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Profile,
        diags: &mut Diagnostics,
    ) -> Fetched<Profile> {
        let iam = iam(aws);
        let profile = match iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(o) => match o.instance_profile {
                Some(p) => p,
                None => return Fetched::Gone,
            },
            Err(e) if e.as_service_error().is_some_and(is_no_such_entity) => return Fetched::Gone,
            Err(e) => {
                aws_error(
                    diags,
                    "iam:GetInstanceProfile",
                    &format!("instance profile {name}"),
                    &sdk_error_text(&e),
                );
                return Fetched::Failed;
            }
        };
        let tags = match iam
            .list_instance_profile_tags()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(o) => iam_tag_map(o.tags()),
            Err(e) => {
                aws_error(
                    diags,
                    "iam:ListInstanceProfileTags",
                    &format!("instance profile {name}"),
                    &sdk_error_text(&e),
                );
                return Fetched::Failed;
            }
        };
        // A profile holds at most one role; none means someone removed it: the plan adds it back.
        Fetched::Found(Profile {
            name: Some(name.to_string()),
            role_name: profile.roles().first().map(|r| r.role_name().to_string()),
            arn: Some(profile.arn().to_string()),
            tags: tags_for_state(&tags, aws, &prior.tags),
        })
    }

    async fn left_by_an_interrupted_apply(
        &self,
        aws: &AwsContext,
        planned: &Profile,
    ) -> Option<String> {
        let name = planned.name.as_deref()?;
        let tags = iam(aws)
            .list_instance_profile_tags()
            .instance_profile_name(name)
            .send()
            .await
            .ok()?;
        aws.owns(&iam_tag_map(tags.tags()))
            .then(|| name.to_string())
    }

    async fn create(
        &self,
        op: &Op<'_>,
        planned: &Profile,
        diags: &mut Diagnostics,
    ) -> Option<Profile> {
        let iam = iam(op.aws);
        let name = planned.name.clone().unwrap_or_default();
        let tags = iam_tags(&op.aws.owned_tags(&planned.tags), diags)?;
        let arn = match iam
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
        let mut state = Profile {
            arn: Some(arn),
            ..planned.clone()
        };
        let role = planned.role_name.as_deref().unwrap_or_default();
        if !add_role(op, &iam, &name, role, diags).await {
            // The profile exists without its role; the next plan shows role_name to add.
            state.role_name = None;
        }
        Some(state)
    }

    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Profile,
        planned: &Profile,
        diags: &mut Diagnostics,
    ) -> Option<Profile> {
        let aws = op.aws;
        let iam = iam(aws);
        let name = prior.name.clone()?;
        let what = format!("instance profile {name}");
        if planned.role_name != prior.role_name {
            if let Some(old) = prior.role_name.as_deref()
                && let Err(e) = iam
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
            let role = planned.role_name.as_deref().unwrap_or_default();
            if !add_role(op, &iam, &name, role, diags).await {
                return None;
            }
        }
        let had = aws.merged_tags(&prior.tags);
        let want = aws.merged_tags(&planned.tags);
        let stale = stale_keys(&had, &want);
        if !stale.is_empty()
            && let Err(e) = iam
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
            if let Err(e) = iam
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

    async fn delete(&self, op: &Op<'_>, prior: &Profile, diags: &mut Diagnostics) {
        let Some(name) = prior.name.as_deref() else {
            return;
        };
        let iam = iam(op.aws);
        let what = format!("instance profile {name}");
        // IAM refuses to delete a profile that still holds a role; remove whatever role it holds.
        if let Ok(o) = iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            for r in o.instance_profile.map(|p| p.roles).unwrap_or_default() {
                if let Err(e) = iam
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
        if let Err(e) = iam
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
}
