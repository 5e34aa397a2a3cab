"""STS (query protocol): AssumeRole only, for assume-role connections."""

from __future__ import annotations

import uuid

from aiohttp import web

from airflow_querystatus.emulator.model import Emulator
from airflow_querystatus.emulator.wire import iso


def access_key(request: web.Request) -> str | None:
    """The access key id a SigV4 request was signed with (never the secret, which is not sent)."""
    authorization = request.headers.get("Authorization", "")
    if "Credential=" not in authorization:
        return None
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


async def assume_role(emulator: Emulator, request: web.Request) -> web.StreamResponse:
    form = await request.post()
    emulator.count_request(f"sts_{str(form.get('Action', '')).lower()}", access_key(request))
    if form.get("Action") != "AssumeRole" or not form.get("RoleArn"):
        return web.Response(status=400, content_type="text/xml", text=(
            "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
            "<Message>Only AssumeRole is emulated</Message></Error></ErrorResponse>"))
    refusal = emulator.credentials.refusal(request, await request.read())
    if refusal is not None:
        return web.Response(status=403, content_type="text/xml", text=(
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{refusal.code}</Code>"
            f"<Message>{refusal.message}</Message></Error></ErrorResponse>"))
    key, expires = emulator.issue_sts_key()
    secret, token = f"emulated-{uuid.uuid4().hex}", f"token-{uuid.uuid4().hex}"
    emulator.credentials.register(key, secret, token)
    session = str(form.get("RoleSessionName", "session"))
    xml = (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}"
        f"</SecretAccessKey><SessionToken>{token}</SessionToken>"
        f"<Expiration>{iso(expires)}</Expiration></Credentials>"
        f"<AssumedRoleUser><AssumedRoleId>AROAEMULATOR:{session}</AssumedRoleId>"
        f"<Arn>arn:aws:sts::123456789012:assumed-role/emulated/{session}</Arn></AssumedRoleUser>"
        f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</AssumeRoleResponse>"
    )
    return web.Response(status=200, content_type="text/xml", text=xml)
