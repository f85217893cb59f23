//! The tfplugin6 Provider service. Every RPC decodes, calls the provider code, and encodes; user
//! mistakes travel back as diagnostics, never as gRPC errors.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{diagnostics, path_to_pb, schema_to_pb, value_from_pb, value_to_pb};
use super::proto::tfplugin6 as pb;
use super::proto::tfplugin6::provider_server::Provider as ProviderRpc;
use super::registry::Registry;
use crate::plugin::codec::decode_json;
use crate::plugin::diag::{Diagnostic, Diagnostics};
use crate::plugin::plan::{apply_custom_modifiers, plan_change, replacements};
use crate::plugin::schema::validate_config;
use crate::plugin::traits::Read;
use crate::plugin::value::{AttributePath, Value};

pub(crate) struct ProviderService {
    pub reg: Arc<Registry>,
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} named {name:?}."),
    );
    d
}

/// Unwraps a conversion result or returns the RPC response built from its diagnostic.
macro_rules! try_diag {
    ($e:expr, $diags:ident, $resp:expr) => {
        match $e {
            Ok(v) => v,
            Err(d) => {
                $diags.push(d);
                return Ok(Response::new($resp(diagnostics($diags))));
            }
        }
    };
}

/// Terraform rejects an apply result that differs from a known planned value, with a message that
/// blames the provider but not the attribute; we name it.
fn check_apply_result(planned: &Value, new: &Value, diags: &mut Diagnostics) {
    if let (Value::Object(p), Value::Object(n)) = (planned, new) {
        for (k, pv) in p {
            let nv = n.get(k).unwrap_or(&Value::Null);
            if pv.is_wholly_known() && pv != nv {
                diags.error_at(
                    AttributePath::attr(k),
                    "Provider bug: applied value differs from the plan",
                    format!("Planned {pv:?}, but the apply produced {nv:?}."),
                );
            }
        }
    }
    if !new.is_wholly_known() {
        diags.error(
            "Provider bug: unknown value after apply",
            "The provider left a value unknown after apply.",
        );
    }
}

#[tonic::async_trait]
impl ProviderRpc for ProviderService {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: self
                .reg
                .data_sources
                .keys()
                .map(|k| pb::get_metadata::DataSourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
            resources: self
                .reg
                .resources
                .keys()
                .map(|k| pb::get_metadata::ResourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
            functions: Vec::new(),
            ephemeral_resources: Vec::new(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(schema_to_pb(&self.reg.provider_schema)),
            resource_schemas: self
                .reg
                .resources
                .iter()
                .map(|(k, (_, s))| (k.clone(), schema_to_pb(s)))
                .collect(),
            data_source_schemas: self
                .reg
                .data_sources
                .iter()
                .map(|(k, (_, s))| (k.clone(), schema_to_pb(s)))
                .collect(),
            diagnostics: Vec::new(),
            provider_meta: None,
            server_capabilities: Some(capabilities()),
            functions: Default::default(),
            ephemeral_resource_schemas: Default::default(),
        }))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let req = req.into_inner();
        let mut diags = Diagnostics::new();
        let mk = |diagnostics| pb::validate_provider_config::Response { diagnostics };
        let schema = &self.reg.provider_schema;
        let config = try_diag!(
            value_from_pb(req.config.as_ref(), &schema.value_type()),
            diags,
            mk
        );
        validate_config(&schema.block, &config, &mut diags);
        self.reg.provider.validate(&config, &mut diags);
        Ok(Response::new(mk(diagnostics(diags))))
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::validate_resource_config::Response { diagnostics };
        let Some((res, schema)) = self.reg.resources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "resource",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let config = try_diag!(
            value_from_pb(req.config.as_ref(), &schema.value_type()),
            diags,
            mk
        );
        validate_config(&schema.block, &config, &mut diags);
        res.validate(&config, &mut diags);
        Ok(Response::new(mk(diagnostics(diags))))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::validate_data_resource_config::Response { diagnostics };
        let Some((ds, schema)) = self.reg.data_sources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "data source",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let config = try_diag!(
            value_from_pb(req.config.as_ref(), &schema.value_type()),
            diags,
            mk
        );
        validate_config(&schema.block, &config, &mut diags);
        ds.validate(&config, &mut diags);
        Ok(Response::new(mk(diagnostics(diags))))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::upgrade_resource_state::Response {
            upgraded_state: None,
            diagnostics,
        };
        let Some((res, schema)) = self.reg.resources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "resource",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let raw = req.raw_state.unwrap_or_default();
        if raw.json.is_empty() {
            diags.error(
                "Unsupported state format",
                "This state was written in the legacy flatmap format, which this provider cannot read. Re-import the resource.",
            );
            return Ok(Response::new(mk(diagnostics(diags))));
        }
        let ty = schema.value_type();
        let upgraded = if req.version == schema.version {
            try_diag!(
                decode_json(&raw.json, &ty).map_err(|e| Diagnostic::error(
                    "Stored state does not match the schema",
                    e.to_string()
                )),
                diags,
                mk
            )
        } else if let Some(up) = res.upgrader().filter(|_| req.version < schema.version) {
            let Some(old_ty) = up.prior_type(req.version) else {
                diags.error(
                    "Unsupported state version",
                    format!(
                        "State version {} cannot be upgraded to {}.",
                        req.version, schema.version
                    ),
                );
                return Ok(Response::new(mk(diagnostics(diags))));
            };
            let old = try_diag!(
                decode_json(&raw.json, &old_ty).map_err(|e| Diagnostic::error(
                    "Stored state does not match its schema version",
                    e.to_string()
                )),
                diags,
                mk
            );
            match up.upgrade(req.version, old, &mut diags) {
                Some(v) => v,
                None => return Ok(Response::new(mk(diagnostics(diags)))),
            }
        } else {
            diags.error(
                "Unsupported state version",
                format!(
                    "{} state is at schema version {}, but this provider reads version {}{}.",
                    req.type_name,
                    req.version,
                    schema.version,
                    if req.version > schema.version {
                        " (the state was written by a newer provider)"
                    } else {
                        ""
                    }
                ),
            );
            return Ok(Response::new(mk(diagnostics(diags))));
        };
        let dv = try_diag!(value_to_pb(&upgraded, &ty), diags, mk);
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state: Some(dv),
            diagnostics: diagnostics(diags),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::configure_provider::Response { diagnostics };
        let mut diags = Diagnostics::new();
        let ty = self.reg.provider_schema.value_type();
        let config = try_diag!(value_from_pb(req.config.as_ref(), &ty), diags, mk);
        tracing::debug!(terraform_version = %req.terraform_version, "configuring provider");
        let data = self.reg.provider.configure(&config, &mut diags).await;
        self.reg.set_data(data);
        Ok(Response::new(mk(diagnostics(diags))))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::read_resource::Response {
            new_state: None,
            diagnostics,
            private: Vec::new(),
            deferred: None,
        };
        let Some((res, schema)) = self.reg.resources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "resource",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let ty = schema.value_type();
        let current = try_diag!(value_from_pb(req.current_state.as_ref(), &ty), diags, mk);
        let ctx = self.reg.context();
        let new = match res.read(&ctx, &current, &mut diags).await {
            Read::Found(v) => v,
            Read::Gone => Value::Null,
            // Keep what we had: dropping it would make Terraform forget the object.
            Read::Failed => {
                if !diags.has_errors() {
                    diags.error(
                        "Read failed",
                        format!("{} could not be read; no reason was given.", req.type_name),
                    );
                }
                current
            }
        };
        let dv = try_diag!(value_to_pb(&new, &ty), diags, mk);
        Ok(Response::new(pb::read_resource::Response {
            new_state: Some(dv),
            diagnostics: diagnostics(diags),
            private: req.private,
            deferred: None,
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::plan_resource_change::Response {
            planned_state: None,
            requires_replace: Vec::new(),
            planned_private: Vec::new(),
            diagnostics,
            legacy_type_system: false,
            deferred: None,
        };
        let Some((res, schema)) = self.reg.resources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "resource",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let ty = schema.value_type();
        let prior = try_diag!(value_from_pb(req.prior_state.as_ref(), &ty), diags, mk);
        let proposed = try_diag!(
            value_from_pb(req.proposed_new_state.as_ref(), &ty),
            diags,
            mk
        );
        let config = try_diag!(value_from_pb(req.config.as_ref(), &ty), diags, mk);
        let mut plan = plan_change(schema, &prior, &proposed, &config);
        let ctx = self.reg.context();
        apply_custom_modifiers(schema, &ctx, &prior, &config, &mut plan.planned);
        res.modify_plan(&ctx, &prior, &config, &mut plan, &mut diags)
            .await;
        for p in replacements(schema, &prior, &plan.planned) {
            if !plan.requires_replace.contains(&p) {
                plan.requires_replace.push(p);
            }
        }
        let dv = try_diag!(value_to_pb(&plan.planned, &ty), diags, mk);
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state: Some(dv),
            requires_replace: plan.requires_replace.iter().map(path_to_pb).collect(),
            planned_private: req.prior_private,
            diagnostics: diagnostics(diags),
            legacy_type_system: false,
            deferred: None,
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::apply_resource_change::Response {
            new_state: None,
            private: Vec::new(),
            diagnostics,
            legacy_type_system: false,
        };
        let Some((res, schema)) = self.reg.resources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "resource",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let ty = schema.value_type();
        let prior = try_diag!(value_from_pb(req.prior_state.as_ref(), &ty), diags, mk);
        let planned = try_diag!(value_from_pb(req.planned_state.as_ref(), &ty), diags, mk);
        let ctx = self.reg.context();
        let new = if planned.is_null() {
            res.delete(&ctx, &prior, &mut diags).await;
            // A failed delete leaves the object in state so it can be retried.
            if diags.has_errors() {
                prior
            } else {
                Value::Null
            }
        } else if prior.is_null() {
            let created = res.create(&ctx, &planned, &mut diags).await;
            let v = created.unwrap_or(Value::Null);
            if !v.is_null() && !diags.has_errors() {
                check_apply_result(&planned, &v, &mut diags);
            }
            v
        } else {
            match res.update(&ctx, &prior, &planned, &mut diags).await {
                Some(v) => {
                    if !diags.has_errors() {
                        check_apply_result(&planned, &v, &mut diags);
                    }
                    v
                }
                None => prior,
            }
        };
        let dv = try_diag!(value_to_pb(&new, &ty), diags, mk);
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state: Some(dv),
            private: req.planned_private,
            diagnostics: diagnostics(diags),
            legacy_type_system: false,
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::import_resource_state::Response {
            imported_resources: Vec::new(),
            diagnostics,
            deferred: None,
        };
        let Some((res, schema)) = self.reg.resources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "resource",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let Some(importer) = res.importer() else {
            diags.error(
                "Import not supported",
                format!(
                    "{} cannot be imported; create it with terraform apply instead.",
                    req.type_name
                ),
            );
            return Ok(Response::new(mk(diagnostics(diags))));
        };
        let ctx = self.reg.context();
        let Some(state) = importer.import(&ctx, &req.id, &mut diags).await else {
            return Ok(Response::new(mk(diagnostics(diags))));
        };
        let dv = try_diag!(value_to_pb(&state, &schema.value_type()), diags, mk);
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources: vec![pb::import_resource_state::ImportedResource {
                type_name: req.type_name,
                state: Some(dv),
                private: Vec::new(),
            }],
            diagnostics: diagnostics(diags),
            deferred: None,
        }))
    }

    async fn move_resource_state(
        &self,
        req: Request<pb::move_resource_state::Request>,
    ) -> Result<Response<pb::move_resource_state::Response>, Status> {
        let req = req.into_inner();
        let mut diags = Diagnostics::new();
        diags.error(
            "Moving resource state is not supported",
            format!(
                "This provider cannot move {} ({}) to {}. Remove the `moved` block, then `terraform import` the object under its new address.",
                req.source_type_name, req.source_provider_address, req.target_type_name
            ),
        );
        Ok(Response::new(pb::move_resource_state::Response {
            target_state: None,
            diagnostics: diagnostics(diags),
            target_private: Vec::new(),
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let mk = |diagnostics| pb::read_data_source::Response {
            state: None,
            diagnostics,
            deferred: None,
        };
        let Some((ds, schema)) = self.reg.data_sources.get(&req.type_name) else {
            return Ok(Response::new(mk(diagnostics(unknown_type(
                "data source",
                &req.type_name,
            )))));
        };
        let mut diags = Diagnostics::new();
        let ty = schema.value_type();
        let config = try_diag!(value_from_pb(req.config.as_ref(), &ty), diags, mk);
        let ctx = self.reg.context();
        let Some(state) = ds.read(&ctx, &config, &mut diags).await else {
            return Ok(Response::new(mk(diagnostics(diags))));
        };
        let dv = try_diag!(value_to_pb(&state, &ty), diags, mk);
        Ok(Response::new(pb::read_data_source::Response {
            state: Some(dv),
            diagnostics: diagnostics(diags),
            deferred: None,
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
        let name = req.into_inner().type_name;
        Ok(Response::new(
            pb::validate_ephemeral_resource_config::Response {
                diagnostics: diagnostics(unknown_type("ephemeral resource", &name)),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<pb::open_ephemeral_resource::Request>,
    ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
        let name = req.into_inner().type_name;
        Ok(Response::new(pb::open_ephemeral_resource::Response {
            diagnostics: diagnostics(unknown_type("ephemeral resource", &name)),
            renew_at: None,
            result: None,
            private: None,
            deferred: None,
        }))
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<pb::renew_ephemeral_resource::Request>,
    ) -> Result<Response<pb::renew_ephemeral_resource::Response>, Status> {
        let name = req.into_inner().type_name;
        Ok(Response::new(pb::renew_ephemeral_resource::Response {
            diagnostics: diagnostics(unknown_type("ephemeral resource", &name)),
            renew_at: None,
            private: None,
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<pb::close_ephemeral_resource::Request>,
    ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
        let name = req.into_inner().type_name;
        Ok(Response::new(pb::close_ephemeral_resource::Response {
            diagnostics: diagnostics(unknown_type("ephemeral resource", &name)),
        }))
    }

    async fn get_functions(
        &self,
        _req: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        req: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!(
                    "this provider defines no function {:?}",
                    req.into_inner().name
                ),
                function_argument: None,
            }),
        }))
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!("StopProvider: cancelling operations in flight");
        self.reg.stop();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        // We answer MoveResourceState with a clear diagnostic but support no moves.
        move_resource_state: false,
    }
}
