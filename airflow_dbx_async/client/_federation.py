"""Workload identity federation: a JWT from another issuer exchanged for a Databricks OAuth token.

:class:`FederatedTokenAuth` sends the RFC 8693 token exchange that Databricks documents and the
official provider sends, a form POST to ``<workspace>/oidc/v1/token``::

    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    subject_token_type=urn:ietf:params:oauth:token-type:jwt
    scope=all-apis
    subject_token=<the JWT>
    client_id=<service principal>   (only for a service-principal federation policy)

The JWT comes from a :class:`SubjectTokenSource`, asked afresh for every exchange (never cached):

- :class:`ProjectedVolumeToken` reads a Kubernetes projected service-account token file;
- :class:`KubernetesTokenRequest` asks the Kubernetes TokenRequest API for one, over HTTPS verified
  against the cluster's CA alone, through the one transport (no Kubernetes library needed);
- :class:`CallableSubjectToken` wraps any callable: ``federated_token_provider``, or an AWS STS
  ``GetWebIdentityToken`` call (``federated_aws``) that the Airflow layer builds when the Amazon
  provider is installed.

The Databricks token is cached per workspace, client id and source in the shared cache; a thousand
callers cause one exchange per refresh.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from airflow_dbx_async.client._auth import AuthHeaders, FetchToken, TokenRequest
from airflow_dbx_async.client._tokens import cached_token, forget_token, labelled, read_token
from airflow_dbx_async.client.errors import AuthError, ConfigurationError, DatabricksError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = (
    "CallableSubjectToken",
    "FederatedTokenAuth",
    "KubernetesTokenRequest",
    "ProjectedVolumeToken",
    "SubjectTokenSource",
)

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
# The official provider's defaults (hooks/databricks_base.py).
DEFAULT_K8S_API_URL = "https://kubernetes.default.svc"
DEFAULT_K8S_AUDIENCE = "https://kubernetes.default.svc"
DEFAULT_K8S_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
DEFAULT_K8S_NAMESPACE_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_K8S_CA_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
DEFAULT_K8S_EXPIRATION_SECONDS = 3600
_MAX_TOKEN_FILE_BYTES = 64 * 1024


class SubjectTokenSource(Protocol):
    """Produces the JWT to exchange. ``cache_key`` tells sources apart in the token cache."""

    @property
    def cache_key(self) -> str:
        """Identifies the source (a path, a dotted name), never a secret."""
        ...

    async def subject_token(self, fetch: FetchToken) -> str:
        """A fresh subject token; ``fetch`` sends any HTTP request through the client's transport."""
        ...


def _read_text(path: str, setting: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(_MAX_TOKEN_FILE_BYTES).strip()
    except FileNotFoundError:
        raise ConfigurationError(setting, f"{what} not found at {path!r}") from None
    except PermissionError:
        raise ConfigurationError(setting, f"permission denied reading {what} at {path!r}") from None
    except (OSError, UnicodeError) as exc:
        raise ConfigurationError(setting, f"cannot read {what} at {path!r}: {exc}") from None
    if not text:
        raise ConfigurationError(setting, f"{what} at {path!r} is empty")
    return text


@dataclass(frozen=True)
class ProjectedVolumeToken:
    """A service-account token projected into the pod (re-read for every exchange: kubelet rotates it).

    :param path: the token file (extra ``k8s_projected_volume_token_path``).
    """

    path: str

    @property
    def cache_key(self) -> str:
        """The file's path."""
        return f"file:{self.path}"

    async def subject_token(self, fetch: FetchToken) -> str:
        """The file's content, stripped."""
        return await asyncio.to_thread(
            _read_text,
            self.path,
            "k8s_projected_volume_token_path",
            "Kubernetes projected volume token (configure a serviceAccountToken projected volume)",
        )


@dataclass(frozen=True)
class KubernetesTokenRequest:
    """A token from the Kubernetes TokenRequest API, as the official provider asks for it.

    ``POST {api_url}/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token`` with the
    pod's own service-account token as bearer and ``{"spec": {"audiences": [audience],
    "expirationSeconds": ...}}``; the API server is verified against ``ca_file`` alone.

    :param audience: the token's audience (extra ``audience``).
    :param expiration_seconds: its lifetime (extra ``expiration_seconds``).
    :param token_path: the pod's service-account token (extra ``k8s_token_path``).
    :param namespace_path: the pod's namespace file (extra ``k8s_namespace_path``).
    :param api_url: the Kubernetes API server.
    :param ca_file: the cluster CA that signs the API server's certificate.
    :param service_account: whose token to request; the official provider asks for ``default``.
    """

    audience: str = DEFAULT_K8S_AUDIENCE
    expiration_seconds: int = DEFAULT_K8S_EXPIRATION_SECONDS
    token_path: str = DEFAULT_K8S_TOKEN_PATH
    namespace_path: str = DEFAULT_K8S_NAMESPACE_PATH
    api_url: str = DEFAULT_K8S_API_URL
    ca_file: str = DEFAULT_K8S_CA_FILE
    service_account: str = "default"

    @property
    def cache_key(self) -> str:
        """The API server, service account and audience."""
        return f"k8s-token-request:{self.api_url}:{self.service_account}:{self.audience}"

    async def subject_token(self, fetch: FetchToken) -> str:
        """Ask the API server; ``status.token`` of its answer."""
        setting = "federated_k8s"
        pod_token = await asyncio.to_thread(
            _read_text, self.token_path, setting, "Kubernetes service account token (not in a pod?)"
        )
        namespace = await asyncio.to_thread(
            _read_text, self.namespace_path, setting, "Kubernetes namespace file (not in a pod?)"
        )
        url = (
            f"{self.api_url.rstrip('/')}/api/v1/namespaces/{namespace}"
            f"/serviceaccounts/{self.service_account}/token"
        )
        request = TokenRequest(
            url=url,
            form={},
            secret=pod_token,
            headers={"Authorization": f"Bearer {pod_token}"},
            json_body={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"audiences": [self.audience], "expirationSeconds": self.expiration_seconds},
            },
            ca_file=self.ca_file,
        )
        raw = await fetch(request)
        try:
            token = json.loads(raw)["status"]["token"]
        except (ValueError, KeyError, TypeError, RecursionError):
            token = None
        if not isinstance(token, str) or not token.strip():  # never quote the body: it holds tokens
            raise AuthError(200, "INVALID_TOKEN_RESPONSE", "TokenRequest answer has no status.token", "POST")
        return token.strip()


@dataclass(frozen=True)
class CallableSubjectToken:
    """Any callable returning the JWT: a ``federated_token_provider``, or an AWS STS token minter.

    A plain function runs in a worker thread (it typically blocks on a network call); a coroutine
    function is awaited. The value must be a non-empty string; surrounding whitespace is removed.
    Errors that are not the client's own become one :class:`ConfigurationError` line (not retried);
    raise :class:`~airflow_dbx_async.client.TransportError` from the callable for a transient failure.

    :param func: the callable.
    :param key: identifies it in the token cache; default its dotted name.
    """

    func: Callable[[], str | Awaitable[str]] = field(repr=False)
    key: str = ""

    @property
    def cache_key(self) -> str:
        """``key``, or the callable's dotted name."""
        name = f"{getattr(self.func, '__module__', '?')}.{getattr(self.func, '__qualname__', '?')}"
        return f"callable:{self.key or name}"

    def __repr__(self) -> str:
        return f"CallableSubjectToken({self.cache_key!r})"

    async def subject_token(self, fetch: FetchToken) -> str:
        """Call it; check what it returned."""
        try:
            if inspect.iscoroutinefunction(self.func):
                value: object = await self.func()
            else:
                value = await asyncio.to_thread(self.func)
                if inspect.isawaitable(value):
                    value = await value
        except DatabricksError:
            raise
        except Exception as exc:
            reason = (str(exc).splitlines() or [""])[0][:300]
            raise ConfigurationError(
                "subject_token", f"{self.cache_key} failed: {type(exc).__name__}: {reason}"
            ) from None
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError("subject_token", f"{self.cache_key} must return a non-empty string")
        return value.strip()


@dataclass(frozen=True)
class FederatedTokenAuth:
    """Workload identity federation: a subject JWT exchanged at the workspace for a Databricks token.

    :param source: produces the JWT (see the module doc).
    :param client_id: the service principal of a service-principal federation policy; ``None`` for an
        account-wide policy (Kubernetes tokens need it: see :meth:`kubernetes`).
    :param token_url: the exchange endpoint; default ``{base_url}/oidc/v1/token``.
    :param scope: the requested scope.
    :param label: names the credential in errors: the connection extra that chose it.
    """

    source: SubjectTokenSource
    client_id: str | None = None
    token_url: str | None = None
    scope: str = "all-apis"
    label: str = "federated_token_provider"

    @classmethod
    def kubernetes(
        cls,
        client_id: str | None,
        *,
        projected_volume_token_path: str | None = None,
        token_request: KubernetesTokenRequest | None = None,
        label: str = "federated_k8s",
    ) -> FederatedTokenAuth:
        """Kubernetes service-account federation, as the official ``federated_k8s``.

        The token is read from ``projected_volume_token_path`` when given, else requested from the
        TokenRequest API (``token_request``, default settings when ``None``).

        :raises ConfigurationError: naming ``client_id`` when it is missing: service-account tokens
            cannot carry custom claims, so only a service-principal federation policy can match them.
        """
        if not client_id:
            raise ConfigurationError(
                "client_id",
                f"'{label}' needs the service principal's 'client_id': Kubernetes service account "
                "tokens carry no custom claims, so only a service-principal federation policy applies",
            )
        source: SubjectTokenSource
        if projected_volume_token_path:
            source = ProjectedVolumeToken(projected_volume_token_path)
        else:
            source = token_request or KubernetesTokenRequest()
        return cls(source=source, client_id=client_id, label=label)

    def _endpoint(self, base_url: str) -> str:
        return self.token_url or f"{base_url.rstrip('/')}/oidc/v1/token"

    def _key(self, base_url: str) -> tuple[str, ...]:
        endpoint = self._endpoint(base_url)
        return ("federation", endpoint, self.client_id or "", self.scope, self.source.cache_key)

    def exchange_form(self, subject_token: str) -> dict[str, str]:
        """The token-exchange form fields, in the official provider's order."""
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token_type": JWT_TOKEN_TYPE,
            "scope": self.scope,
            "subject_token": subject_token,
        }
        if self.client_id:
            form["client_id"] = self.client_id
        return form

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """``Authorization: Bearer <token>`` with a cached or freshly exchanged token."""
        url = self._endpoint(base_url)

        async def acquire() -> tuple[str, float]:
            subject = await self.source.subject_token(fetch)
            request = TokenRequest(url=url, form=self.exchange_form(subject), secret=subject)
            return read_token(await fetch(request), url)

        token = await cached_token(self._key(base_url), labelled(self.label, acquire))
        return AuthHeaders({"Authorization": f"Bearer {token}"}, (token,))

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """Forget the token sent with ``used`` (if still cached) so the next call exchanges again."""
        forget_token(self._key(base_url), used.secrets)
        return True
