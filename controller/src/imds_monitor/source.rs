//! Reading a metadata path. The AWS SDK's IMDS client does the IMDSv2 dance (a PUT for a session
//! token, the token on every GET, refreshed before it expires) and retries; a 404 is how IMDS says
//! "no such notice" and becomes `None`.

use std::time::Duration;

use aws_config::imds::client::Client;
use aws_config::imds::client::error::ImdsError;
use aws_smithy_types::error::display::DisplayErrorContext;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid IMDS endpoint {endpoint:?}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("reading {path} from IMDS: {message}")]
    Fetch { path: &'static str, message: String },
}

pub struct Imds {
    client: Client,
}

impl Imds {
    pub fn new(endpoint: &str) -> Result<Self, SourceError> {
        let builder = Client::builder()
            .endpoint(endpoint)
            .map_err(|e| SourceError::Endpoint {
                endpoint: endpoint.to_string(),
                message: e.to_string(),
            })?
            // A poll that hangs is worse than a poll that fails: the next one comes in seconds.
            .connect_timeout(Duration::from_secs(1))
            .read_timeout(Duration::from_secs(2))
            .max_attempts(2);
        Ok(Imds {
            client: builder.build(),
        })
    }

    /// The document at `path`, or `None` when IMDS has nothing there (404).
    pub async fn fetch(&self, path: &'static str) -> Result<Option<String>, SourceError> {
        match self.client.get(path).await {
            Ok(body) => Ok(Some(body.into())),
            Err(ImdsError::ErrorResponse(r)) if r.response().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(SourceError::Fetch {
                path,
                message: DisplayErrorContext(&e).to_string(),
            }),
        }
    }
}
