"""The language of what the CLI prints for people, and the court and city names it prints.

Simplified Chinese by default; ``--lang en`` or ``JD_LANG=en`` switches to English. JSON output is
for programs and never changes with the language. Court and city names come from the court
registry (``courts/``, the same files the services read; ``JD_COURTS_DIR``); an id the registry
does not know is printed as it is.
"""

from __future__ import annotations

import functools
import os

from jiaodong.config import Settings
from jiaodong.domain.errors import RegistryError
from jiaodong.domain.identity import Identity, Role
from jiaodong.domain.labels import DEFAULT_LANG, REGION_NAME, ROLE, Lang, label, pick
from jiaodong.domain.registry import Registry
from jiaodong.files.registry import load_registry

ENV = "JD_LANG"


def _from_env() -> Lang:
    try:
        return Lang(os.environ.get(ENV, DEFAULT_LANG.value).strip().lower() or DEFAULT_LANG)
    except ValueError:
        return DEFAULT_LANG


_current = _from_env()


def use(lang: Lang | str) -> None:
    """Print in ``lang`` from now on (the command's --lang)."""
    global _current
    _current = Lang(lang)


def current() -> Lang:
    return _current


def zh() -> bool:
    return _current is Lang.ZH


def t(zh_text: str, en_text: str) -> str:
    """``zh_text`` or ``en_text``, whichever the current language reads."""
    return pick(_current, zh_text, en_text)


@functools.cache
def registry() -> Registry | None:
    """The court registry, read once; None when it cannot be read (ids are printed instead)."""
    try:
        return load_registry(Settings.from_env().courts_dir)
    except (RegistryError, OSError):
        return None


def court_name(court_id: str) -> str:
    """``青岛市市南区人民法院`` (``Shinan District People's Court``); the id if unknown."""
    reg = registry()
    court = reg.courts.get(court_id) if reg else None
    if court is None:
        return court_id or "-"
    return court.name_zh if zh() else court.name_en


def court_label(court_id: str) -> str:
    """A court's name and id: ``青岛市市南区人民法院 (370202)``."""
    name = court_name(court_id)
    return name if name == (court_id or "-") else f"{name} ({court_id})"


def court_city(court_id: str) -> str:
    """The city id of a court; empty if unknown."""
    reg = registry()
    court = reg.courts.get(court_id) if reg else None
    return court.city if court else ""


def city_name(city: str) -> str:
    """``青岛市`` / ``Qingdao``; the id if unknown."""
    reg = registry()
    found = reg.cities.get(city) if reg else None
    if found is None:
        return city or "-"
    return found.name_zh if zh() else found.name_en


def cities() -> list[str]:
    """The registry's city ids in its order (the five Jiaodong cities)."""
    reg = registry()
    return list(reg.cities) if reg else []


def identity_name(identity: Identity) -> str:
    """Who a certificate names, for people: ``威海市执行指挥中心``, ``…人民法院执行员``."""
    role = label(ROLE, identity.role.value, _current)
    if identity.role in (Role.OFFICER, Role.CLERK):
        return (
            f"{court_name(identity.scope)}{role}"
            if zh()
            else f"{court_name(identity.scope)} {role}"
        )
    where = pick(_current, *REGION_NAME) if identity.is_regional else city_name(identity.scope)
    return f"{where}{role}" if zh() else f"{where} {role}"
