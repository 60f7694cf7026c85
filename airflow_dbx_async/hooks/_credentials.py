"""Which credential a Databricks connection describes, in the official provider's order.

:func:`auth_from` reads the connection fields and extras the official ``BaseDatabricksHook._get_token``
reads, with its defaults, and returns the client credential for the first method that applies. Every
value is checked here, before any request: a flag that is not a boolean, a duration that is not a
whole number or a provider that cannot be imported is refused in one line naming the field.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_dbx_async.client import (
    AZURE_IMDS_TOKEN_URL,
    AzureManagedIdentityAuth,
    AzureServicePrincipalAuth,
    BasicAuth,
    CallableSubjectToken,
    ConfigurationError,
    DefaultAzureCredentialAuth,
    FederatedTokenAuth,
    KubernetesTokenRequest,
    OAuthM2MAuth,
    TokenAuth,
)
from airflow_dbx_async.hooks._secrets import MaskedAuth, MaskedSubjectToken

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Connection

    from airflow_dbx_async.client import Auth

__all__ = ("FLAGS", "auth_from")

FLAGS = {
    "allow_insecure_http": False,
    "verify_tls": True,
    "service_principal_oauth": False,
    "use_azure_managed_identity": False,
    "use_default_azure_credential": False,
    "federated_aws": False,
    "federated_k8s": False,
    "proxies_from_env": False,
}
"""The boolean extras and their defaults; every one is checked, used or not."""

# The official provider's defaults (hooks/databricks_base.py).
DEFAULT_AWS_CONN_ID = "aws_default"
DEFAULT_AWS_JWT_AUDIENCE = "databricks"
DEFAULT_AWS_WEB_IDENTITY_TOKEN_DURATION = 300
DEFAULT_K8S_EXPIRATION_SECONDS = 3600
# The Kubernetes API server and cluster CA of the TokenRequest API: module constants, as in the
# official provider (K8S_TOKEN_SERVICE_URL, K8S_CA_CERT_PATH), so both can be pointed elsewhere alike.
K8S_API_URL = KubernetesTokenRequest.api_url
K8S_CA_FILE = KubernetesTokenRequest.ca_file
AMAZON_PROVIDER = "apache-airflow-providers-amazon>=9.22.0"
_STS_MODULE = "airflow.providers.amazon.aws.hooks.sts"
# azure-identity's ManagedIdentityCredential reads this to reach a stand-in for the metadata service
# (AAD Pod Identity's node-managed identity); so does ours.
POD_IDENTITY_AUTHORITY_HOST = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
_IMDS_TOKEN_PATH = urlsplit(AZURE_IMDS_TOKEN_URL).path


def _require(value: str | None, field: str, why: str) -> str:
    if not value:
        raise ConfigurationError(field, why)
    return value


def credential(conn: Connection, field: str, value: object) -> str:
    """A credential field without surrounding whitespace (a secret file's trailing newline).

    A control character inside would break the HTTP header; the error names the connection and the
    field, never the value.
    """
    text = "" if value is None else str(value).strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ConfigurationError(
            field,
            f"the {field} of connection {conn.conn_id!r} contains a control character "
            "(value not shown); remove it",
        )
    return text


def _text(extra: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    """A text extra, stripped; ``default`` when absent or empty."""
    value = extra.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigurationError(key, f"must be text, got {type(value).__name__}")
    return str(value).strip() or default


def _whole(extra: Mapping[str, Any], key: str, default: int) -> int:
    """A whole number of seconds > 0 (a JSON number or digits as text), ``default`` when absent."""
    value = extra.get(key, default)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number <= 0:
        raise ConfigurationError(key, f"must be a whole number of seconds > 0, got {value!r}")
    return number


def _resource_id(extra: Mapping[str, Any]) -> str | None:
    return _text(extra, "azure_resource_id")


def _azure_sp(extra: Mapping[str, Any], login: str, password: str) -> Auth:
    authority = _text(extra, "azure_ad_endpoint", "https://login.microsoftonline.com")
    assert authority is not None
    parts = urlsplit(authority if "://" in authority else f"https://{authority}")
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigurationError(
            "azure_ad_endpoint",
            f"must be the https URL of a Microsoft Entra ID authority host, got {authority!r}",
        )
    return AzureServicePrincipalAuth(
        tenant_id=_require(str(extra["azure_tenant_id"] or ""), "azure_tenant_id", "must not be empty"),
        client_id=_require(login, "login", "Azure service principal needs the client id in login"),
        client_secret=_require(password, "password", "Azure service principal needs the secret"),
        resource_id=_resource_id(extra),
        login_url=f"{parts.scheme}://{parts.netloc}",
    )


def _managed_identity(extra: Mapping[str, Any]) -> Auth:
    authority = os.environ.get(POD_IDENTITY_AUTHORITY_HOST, "").strip().rstrip("/")
    endpoint = f"{authority}{_IMDS_TOKEN_PATH}" if authority else AZURE_IMDS_TOKEN_URL
    return AzureManagedIdentityAuth(
        client_id=_text(extra, "azure_managed_identity_client_id"),
        resource_id=_resource_id(extra),
        endpoint=endpoint,
    )


def _import_provider(path: str) -> Any:
    module_name, _, name = path.rpartition(".")
    if not module_name or not name:
        raise ConfigurationError("federated_token_provider", f"must be a dotted path, got {path!r}")
    try:
        provider = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            "federated_token_provider", f"cannot import {path!r}: {type(exc).__name__}: {exc}"
        ) from None
    if not callable(provider):
        raise ConfigurationError("federated_token_provider", f"{path!r} is not callable")
    return provider


@dataclass(frozen=True)
class AwsWebIdentityToken:
    """Mints the AWS-signed JWT with STS ``GetWebIdentityToken``, as the official ``federated_aws``.

    A value object (not a closure), so that the credential built from one connection is the same key
    of the shared sessions each time the connection is read.

    :param aws_conn_id: the Airflow AWS connection (extra ``aws_conn_id``).
    :param audience: the JWT's audience (extra ``aws_jwt_audience``).
    :param duration_seconds: its lifetime (extra ``aws_web_identity_token_duration``).
    """

    aws_conn_id: str
    audience: str
    duration_seconds: int

    def __call__(self) -> str:
        """Ask AWS STS (a blocking call: the client runs it in a worker thread)."""
        sts = importlib.import_module(_STS_MODULE)  # an optional provider: imported by name
        client = sts.StsHook(aws_conn_id=self.aws_conn_id).get_conn()
        if not hasattr(client, "get_web_identity_token"):
            raise ConfigurationError(
                "federated_aws",
                "the installed AWS SDK has no sts:GetWebIdentityToken; it needs boto3>=1.41.0 "
                f"({AMAZON_PROVIDER})",
            )
        answer = client.get_web_identity_token(
            Audience=[self.audience], SigningAlgorithm="RS256", DurationSeconds=self.duration_seconds
        )
        return str(answer["WebIdentityToken"])


def _aws_minter(extra: Mapping[str, Any]) -> AwsWebIdentityToken:
    minter = AwsWebIdentityToken(
        aws_conn_id=_text(extra, "aws_conn_id", DEFAULT_AWS_CONN_ID) or DEFAULT_AWS_CONN_ID,
        audience=_text(extra, "aws_jwt_audience", DEFAULT_AWS_JWT_AUDIENCE) or DEFAULT_AWS_JWT_AUDIENCE,
        duration_seconds=_whole(
            extra, "aws_web_identity_token_duration", DEFAULT_AWS_WEB_IDENTITY_TOKEN_DURATION
        ),
    )
    try:
        importlib.import_module(_STS_MODULE)
    except ImportError:
        raise ConfigurationError(
            "federated_aws",
            f"needs the Amazon provider, which is not installed (pip install '{AMAZON_PROVIDER}')",
        ) from None
    return minter


def _federated(source: Any, extra: Mapping[str, Any], label: str) -> Auth:
    auth = FederatedTokenAuth(MaskedSubjectToken(source), client_id=_text(extra, "client_id"), label=label)
    return MaskedAuth(auth)


def _kubernetes(extra: Mapping[str, Any]) -> Auth:
    defaults = KubernetesTokenRequest()
    request = KubernetesTokenRequest(
        audience=_text(extra, "audience", defaults.audience) or defaults.audience,
        expiration_seconds=_whole(extra, "expiration_seconds", DEFAULT_K8S_EXPIRATION_SECONDS),
        token_path=_text(extra, "k8s_token_path", defaults.token_path) or defaults.token_path,
        namespace_path=_text(extra, "k8s_namespace_path", defaults.namespace_path) or defaults.namespace_path,
        api_url=K8S_API_URL,
        ca_file=K8S_CA_FILE,
    )
    auth = FederatedTokenAuth.kubernetes(
        _text(extra, "client_id"),
        projected_volume_token_path=_text(extra, "k8s_projected_volume_token_path"),
        token_request=request,
    )
    return MaskedAuth(replace(auth, source=MaskedSubjectToken(auth.source)))


def auth_from(conn: Connection, extra: Mapping[str, Any], flags: Mapping[str, bool]) -> tuple[Auth, str]:
    """Pick the credential in the official provider's order; also say which one (never a value).

    :param flags: the boolean extras, already read (see :data:`FLAGS`).
    :raises ConfigurationError: naming the field at fault.
    """
    login = credential(conn, "login", conn.login)
    password = credential(conn, "password", conn.password)
    token = credential(conn, "token", extra.get("token"))
    if token:
        return TokenAuth(token=token), "personal access token from extra 'token'"
    if not login and password:
        return TokenAuth(token=password), "personal access token from password"
    if "azure_tenant_id" in extra:
        return MaskedAuth(_azure_sp(extra, login, password)), "Azure service principal from login/password"
    if flags["use_azure_managed_identity"]:
        return MaskedAuth(_managed_identity(extra)), "Azure managed identity (use_azure_managed_identity)"
    if flags["use_default_azure_credential"]:
        auth = DefaultAzureCredentialAuth(resource_id=_resource_id(extra))
        return MaskedAuth(auth), "DefaultAzureCredential (use_default_azure_credential)"
    if flags["service_principal_oauth"]:
        oauth = OAuthM2MAuth(
            client_id=_require(login, "login", "service principal OAuth needs the client id in login"),
            client_secret=_require(password, "password", "service principal OAuth needs the secret"),
        )
        return MaskedAuth(oauth), "OAuth service principal from login/password"
    provider = _text(extra, "federated_token_provider")
    if provider:
        source = CallableSubjectToken(_import_provider(provider), key=provider)
        return _federated(
            source, extra, "federated_token_provider"
        ), "token federation (federated_token_provider)"
    if login == "federated_aws" or flags["federated_aws"]:
        minter = _aws_minter(extra)
        key = f"aws:{minter.aws_conn_id}:{minter.audience}:{minter.duration_seconds}"
        source = CallableSubjectToken(minter, key=key)
        return _federated(source, extra, "federated_aws"), "AWS IAM token federation (federated_aws)"
    if login == "federated_k8s" or flags["federated_k8s"]:
        return _kubernetes(extra), "Kubernetes token federation (federated_k8s)"
    if login and password:
        return BasicAuth(login=login, password=password), "basic auth from login/password"
    raise ConfigurationError(
        "password",
        "no credential in the connection: put a personal access token in password "
        "(or extra 'token'), login/password for a service principal, or choose a managed identity "
        "or token federation in the extra",
    )
