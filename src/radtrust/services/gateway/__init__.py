"""The radtrust DICOM gateway: a C-STORE SCP between modalities and the PACS that spools durably,
verifies and scans every instance, applies the site's policy and forwards (with per-study SR/SEG).

Public API: :class:`Gateway`, :class:`GatewayConfig`, :class:`Destination`, :class:`Policy`,
:func:`gateway_status`. Modules: :mod:`.spool` (durable files), :mod:`.queue` (SQLite state),
:mod:`.server` (SCP and workers), :mod:`.forwarder` (SCU, retries), :mod:`.reporter` (SR/SEG per study),
:mod:`.policy`, :mod:`.tls`, :mod:`.status`.
"""

from radtrust.services.gateway.forwarder import Destination
from radtrust.services.gateway.policy import Policy
from radtrust.services.gateway.server import Gateway, GatewayConfig, run_gateway
from radtrust.services.gateway.status import format_status, gateway_status

__all__ = ["Destination", "Gateway", "GatewayConfig", "Policy", "format_status", "gateway_status", "run_gateway"]
