"""[pci] device_spec: which host PCI devices are offered to guests, and their pools' tags.

Pure. Each value of the option is JSON, an object or a list of objects, read as Nova reads
it (nova/pci/devspec.py and whitelist.py):
- `vendor_id`, `product_id`: hex up to ffff, or "*" (the default).
- `address`, a string: `[[domain:]bus:]slot.function`, hex, each part "*" or left out for
  any; or an object of regular expressions `{"domain", "bus", "slot", "function"}` (each
  ".*" by default) matched at the start (Python's re.match) of the device's 4, 2, 2 and 1
  lower-case hex digits. An address naming one device, when that device is an SR-IOV PF,
  also matches its VFs.
- Every other key is a tag, carried into the pools of the devices the spec offers. Values
  are strings; numbers and booleans become strings as Nova's objects make them ("True").
  `managed`, `live_migratable` and `one_time_use` are booleans stored "true" or "false".
  `remote_managed` true offers only devices whose VPD holds a card serial number, never a PF.
A device is offered by the first spec it matches.

Refused with the entry named (DeviceSpecError), where Nova would refuse or crash, and also:
a key other than domain, bus, slot and function in an address object (a typo there would
offer every function); `devname` (it needs the host's network interfaces: use `address`).
`one_time_use` true needs [pci] report_in_placement, as in Nova.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resource_tracker.resources import PCI_ADDRESS_FIELDS, TYPE_PF, PciDevice

ANY = "*"
REGEX_ANY = ".*"
OPTION = "[pci] device_spec"

_BOOLEAN_TAGS = ("managed", "live_migratable", "one_time_use")
_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


class DeviceSpecError(ValueError):
    """A device_spec entry that cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    vendor_id: str  # four hex digits, or ANY
    product_id: str
    address: tuple[str, str, str, str]  # glob parts (hex or ANY) or regular expressions
    regex: bool
    tags: tuple[tuple[str, str | None], ...]  # sorted
    remote_managed: bool = False

    @property
    def single_address(self) -> str | None:
        """The address when the spec names one device (Nova: is_single_address)."""
        if all(all(char in string.hexdigits for char in part) for part in self.address):
            return "{}:{}:{}.{}".format(*self.address)
        return None

    def matches(self, device: PciDevice) -> bool:
        return self.mismatch(device) is None

    def mismatch(self, device: PciDevice) -> str | None:
        """Why this spec does not offer `device` (a short reason), None if it does."""
        if self.vendor_id not in (ANY, device.vendor_id):
            return "vendor_id"
        if self.product_id not in (ANY, device.product_id):
            return "product_id"
        # a VF's parent_addr is an SR-IOV PF's: naming that PF names its VFs too
        names_pf = device.parent_addr is not None and device.parent_addr == self.single_address
        if not names_pf and not self._address_matches(device.address):
            return "address"
        if self.remote_managed and device.dev_type == TYPE_PF:
            return "remote_managed, which offers no PF"
        if self.remote_managed and not device.card_serial_number:
            return "remote_managed, and the device's VPD has no card serial number"
        return None

    def _address_matches(self, address: str) -> bool:
        domain, bus, rest = address.split(":")
        slot, function = rest.split(".")
        values = (domain, bus, slot, function)
        if self.regex:
            return all(re.match(p, v) for p, v in zip(self.address, values, strict=True))
        return all(p in (ANY, v) for p, v in zip(self.address, values, strict=True))


def parse(entries: Iterable[str], in_placement: bool = False) -> tuple[DeviceSpec, ...]:
    """Every spec of the option's values, in order; DeviceSpecError names a bad entry.
    `in_placement`: [pci] report_in_placement, which one_time_use true needs."""
    specs = []
    for entry in entries:
        try:
            value = json.loads(entry)
        except ValueError as error:
            raise _error(entry, f"not JSON ({error})") from None
        for spec in value if isinstance(value, list) else [value]:
            if not isinstance(spec, dict):
                raise _error(entry, "expected a JSON object or a list of objects")
            try:
                specs.append(_spec(spec, in_placement))
            except ValueError as error:
                raise _error(entry, str(error)) from None
    return tuple(specs)


def offering(specs: Iterable[DeviceSpec], device: PciDevice) -> DeviceSpec | None:
    """The first spec matching `device`: the one that offers it, or None."""
    return next((spec for spec in specs if spec.matches(device)), None)


def why_not_offered(specs: Sequence[DeviceSpec], device: PciDevice) -> str | None:
    """Why no spec offers `device`, for an operator looking for a card missing from the
    pools; None if one does. Entries are numbered from 1, in the option's order."""
    if not specs:
        return f"{OPTION} is empty"
    reasons = [spec.mismatch(device) for spec in specs]
    if None in reasons:
        return None
    for number, reason in enumerate(reasons, start=1):
        if reason is not None and reason.startswith("remote_managed"):
            return f"device_spec entry {number} matches it but is {reason}"
    for number, (spec, reason) in enumerate(zip(specs, reasons, strict=True), start=1):
        if reason == "address" and (spec.vendor_id, spec.product_id) != (ANY, ANY):
            return f"no device_spec entry matches (entry {number} has its ids, not its address)"
    return "no device_spec entry matches"


def _error(entry: str, reason: str) -> DeviceSpecError:
    return DeviceSpecError(f"{OPTION}: entry {' '.join(entry.split())}: {reason}")


def _spec(spec: dict, in_placement: bool) -> DeviceSpec:
    tags = dict(spec)
    vendor_id = _string(tags.pop("vendor_id", ANY), "vendor_id").strip()
    product_id = _string(tags.pop("product_id", ANY), "product_id")
    devname = tags.pop("devname", None)
    address = tags.pop("address", None)
    if devname is not None:
        raise ValueError("devname is not supported here: name the device by its address")
    for name in _BOOLEAN_TAGS:
        if tags.get(name) is not None:
            tags[name] = "true" if _boolean(tags[name], name) else "false"
    if tags.get("one_time_use") == "true" and not in_placement:
        raise ValueError("one_time_use true requires [pci] report_in_placement")
    regex = isinstance(address, dict)
    return DeviceSpec(
        vendor_id=_hex(vendor_id, "vendor_id", 0xFFFF, 4),
        product_id=_hex(product_id, "product_id", 0xFFFF, 4),
        address=_regex_address(address) if regex else _glob_address(address or "*:*:*.*"),
        regex=regex,
        tags=tuple(sorted((key, _tag_value(key, value)) for key, value in tags.items())),
        remote_managed=_lenient_boolean(tags.get("remote_managed")),
    )


def _glob_address(address) -> tuple[str, str, str, str]:
    """Nova's glob address: parts left out are ANY, given ones hex within their range."""
    if not isinstance(address, str):
        raise ValueError(f"address {address!r} is neither a string nor an object")
    front, _, function = address.partition(".")
    parts = front.split(":") if front else []
    if len(parts) > 3:
        raise ValueError(f"address {address!r} has more than domain:bus:slot")
    parts = [ANY] * (3 - len(parts)) + [part.strip() or ANY for part in parts]
    parts.append(function.strip() or ANY)
    domain, bus, slot, function = (
        _hex(part, f"address {field}", largest, width)
        for part, (field, largest, width) in zip(parts, PCI_ADDRESS_FIELDS, strict=True)
    )
    return domain, bus, slot, function


def _regex_address(address: dict) -> tuple[str, str, str, str]:
    unknown = sorted(set(address) - {field for field, _, _ in PCI_ADDRESS_FIELDS})
    if unknown:
        raise ValueError(f"address has unknown key(s) {', '.join(unknown)}")
    patterns = []
    for field, _, _ in PCI_ADDRESS_FIELDS:
        pattern = _string(address.get(field, REGEX_ANY), f"address {field}")
        try:
            re.compile(pattern)
        except re.error as error:
            reason = f"address {field} {pattern!r} is not a regular expression: {error}"
            raise ValueError(reason) from None
        patterns.append(pattern)
    domain, bus, slot, function = patterns
    return domain, bus, slot, function


def _hex(text: str, what: str, largest: int, width: int) -> str:
    if text == ANY:
        return ANY
    try:
        number = int(text, 16)  # as Nova: "0x1f" and " 1f " are read too
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a hex number") from None
    if not 0 <= number <= largest:
        raise ValueError(f"{what} {text!r} is out of range (0 to {largest:x})")
    return f"{number:0{width}x}"


def _string(value, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {json.dumps(value)}")
    return value


def _tag_value(key: str, value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)  # as Nova's string fields coerce them: True -> "True"
    raise ValueError(f"tag {key} must be a string, number or boolean")


def _boolean(value, name: str) -> bool:
    """oslo's strict bool_from_string, as Nova reads these tags."""
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in _TRUE | _FALSE:
        return value if isinstance(value, bool) else text in _TRUE
    raise ValueError(f"tag {name} {value!r} is not a boolean")


def _lenient_boolean(value) -> bool:
    """oslo's bool_from_string without strict: anything unrecognised is false."""
    return value is True or str(value).strip().lower() in _TRUE
