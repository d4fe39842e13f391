"""Simulated registries for the demo and the tests: deterministic answers of a city's real-estate
centre, vehicle administration, market regulator and banks.

Pure. What a registry holds of a subject is drawn from the subject's id, the asset kind and the
city alone, so every inquiry about the same person in the same city finds the same flats, cars,
shares and accounts; how long the answer takes, whether it is refused and the registry's request
number are drawn from the request's content (never from the platform's random ids), so a seeded
simulation is reproducible. The data is fictitious.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from jiaodong.domain.calendar import SHANGHAI
from jiaodong.domain.controls import MAX_YEARS, add_years
from jiaodong.domain.delegation import AssetKind
from jiaodong.domain.identifiers import SOCIAL_CREDIT_ALPHABET, social_credit_check_char
from jiaodong.domain.registries import (
    Ack,
    Action,
    Control,
    Encumbrance,
    EncumbranceKind,
    Outcome,
    Property,
    RegistryRequest,
    RegistryResult,
)
from jiaodong.domain.registry_config import SimProfile


@dataclass(frozen=True)
class Locale:
    """What a city's registries need to invent plausible records."""

    city: str
    city_zh: str
    area_code: str
    plate_letter: str
    districts: tuple[str, ...]
    # (name, case code, court id) of the courts that may have seized something before.
    other_courts: tuple[tuple[str, str, str], ...]


_ROADS = ("长江路", "黄河路", "泰山路", "海滨路", "人民路", "文化路", "青年路", "胜利路", "建设路")
_MODELS = (
    "大众 帕萨特",
    "丰田 卡罗拉",
    "本田 雅阁",
    "别克 英朗",
    "比亚迪 秦PLUS",
    "吉利 帝豪",
    "长城 哈弗H6",
    "日产 轩逸",
)
_COLOURS = ("白色", "黑色", "银色", "灰色", "蓝色", "红色")
_WORDS = ("海润", "宏达", "鑫源", "华信", "东方", "泰和", "瑞丰", "金港", "恒通", "广源")
_TRADES = ("贸易", "建设工程", "食品", "机械制造", "物流", "置业", "电子科技", "水产")
_BANKS = (
    "中国工商银行",
    "中国建设银行",
    "中国农业银行",
    "中国银行",
    "交通银行",
    "中国邮政储蓄银行",
)
_CITY_BANKS = {
    "qingdao": "青岛银行",
    "yantai": "烟台银行",
    "weifang": "潍坊银行",
    "weihai": "威海市商业银行",
    "rizhao": "日照银行",
}
_REFUSALS = (
    "被查询人姓名与证件号码不一致，请核实后重新提交",
    "请求缺少有效的电子签章",
    "执行公务证信息校验未通过",
)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _content_key(request: RegistryRequest) -> tuple[object, ...]:
    return (
        request.subject.identifier,
        request.asset_kind.value,
        request.action.value,
        request.case_number,
        request.control_no,
        request.submitted_at.astimezone(UTC).isoformat(),
    )


def in_outage(profile: SimProfile, now: datetime) -> bool:
    return any(start <= now < end for start, end in profile.outages)


def acknowledge(request: RegistryRequest, profile: SimProfile, locale: Locale) -> Ack:
    """The registry's acknowledgement: its request number, and when its first answer comes."""
    first = answer(request, profile, locale)[0]
    return Ack(request.request_id, registry_no(request, locale), first.answered_at)


def registry_no(request: RegistryRequest, locale: Locale) -> str:
    r = _rng("number", *_content_key(request))
    prefix = {
        AssetKind.REAL_ESTATE: "BDC",
        AssetKind.VEHICLE: "CGS",
        AssetKind.EQUITY: "SJJ",
        AssetKind.DEPOSIT: "YH",
    }[request.asset_kind]
    day = request.submitted_at.astimezone(SHANGHAI)
    return f"{prefix}{locale.area_code[:4]}{day:%Y%m%d}{r.randrange(10**6):06d}"


def answer(request: RegistryRequest, profile: SimProfile, locale: Locale) -> list[RegistryResult]:
    """Every result the registry will give, in order, each with the time it is given."""
    r = _rng("answer", *_content_key(request))
    inquiry = request.action is Action.INQUIRE
    low, high = profile.answer_minutes if inquiry else profile.control_minutes
    at = request.submitted_at + timedelta(minutes=round(r.uniform(low, high), 1))
    if r.random() < profile.refused:
        reason = r.choice(_REFUSALS)
        return [RegistryResult(request.request_id, 1, True, Outcome.REFUSED, at, reason=reason)]
    held = holdings(request, profile, locale)
    if inquiry:
        found = held
    else:
        number = registry_no(request, locale)
        found = tuple(
            _controlled(p, request, number, at.astimezone(SHANGHAI).date(), i)
            for i, p in enumerate(_targets(held, request))
        )
    if not found:
        return [RegistryResult(request.request_id, 1, True, Outcome.NOTHING_FOUND, at)]
    if len(found) > 1 and r.random() < profile.partial:
        first_at = request.submitted_at + (at - request.submitted_at) / 2
        half = len(found) // 2
        return [
            RegistryResult(request.request_id, 1, False, Outcome.FOUND, first_at, found[:half]),
            RegistryResult(request.request_id, 2, True, Outcome.FOUND, at, found[half:]),
        ]
    return [RegistryResult(request.request_id, 1, True, Outcome.FOUND, at, found)]


def _targets(held: tuple[Property, ...], request: RegistryRequest) -> tuple[Property, ...]:
    """What a control applies to: the named property if the court named one, else all found."""
    ref = request.ref
    named = ref.plate or ref.title_number or ref.unit_number or ref.account or ref.company
    if not named:
        return held
    return tuple(
        p for p in held if named in (p.identifier, p.details.get("不动产单元号", ""), p.description)
    )


def _controlled(
    p: Property, request: RegistryRequest, number: str, start: date, i: int
) -> Property:
    if request.action is Action.RELEASE:
        details = {**p.details, "控制状态": "已解除"}
        return Property(p.asset_kind, p.description, p.identifier, details, p.encumbrances, None)
    years = MAX_YEARS[request.asset_kind.value]  # the law's longest term
    end = add_years(start, years) - timedelta(days=1)
    earlier = sum(1 for e in p.encumbrances if e.kind is EncumbranceKind.SEIZED)
    control_no = f"{number}-{i + 1}"
    if request.action is Action.RENEW:  # renewed under its own numbers, one per control
        numbers = request.control_no.split(",")
        control_no = numbers[min(i, len(numbers) - 1)]
    control = Control(control_no, start, end, earlier + 1)
    return Property(p.asset_kind, p.description, p.identifier, p.details, p.encumbrances, control)


def holdings(request: RegistryRequest, profile: SimProfile, locale: Locale) -> tuple[Property, ...]:
    """What the registry holds of the subject (the same for every request about them)."""
    asset = request.asset_kind
    r = _rng("holdings", locale.city, asset.value, request.subject.identifier)
    named = asset is AssetKind.VEHICLE and bool(request.ref.plate)  # the court saw the car
    if r.random() < profile.nothing_found and not named:
        return ()
    count = 1 + (r.random() < 0.35) + (asset is AssetKind.DEPOSIT and r.random() < 0.5)
    make = {
        AssetKind.REAL_ESTATE: _flat,
        AssetKind.VEHICLE: _vehicle,
        AssetKind.EQUITY: _shares,
        AssetKind.DEPOSIT: _account,
    }[asset]
    parties = (request.requesting_court, request.entrusted_court)
    found = []
    for i in range(count):
        p = make(r, locale, request, i)
        found.append(
            Property(
                p.asset_kind,
                p.description,
                p.identifier,
                p.details,
                _burdens(r, profile, locale, asset, parties),
            )
        )
    return tuple(found)


def _burdens(
    r: random.Random,
    profile: SimProfile,
    locale: Locale,
    asset: AssetKind,
    parties: tuple[str, str],
) -> tuple[Encumbrance, ...]:
    if r.random() >= profile.encumbered:
        return ()
    since = date(2020, 1, 1) + timedelta(days=r.randrange(6 * 365))
    out = []
    if asset in (AssetKind.REAL_ESTATE, AssetKind.EQUITY) and r.random() < 0.6:
        bank = r.choice(_BANKS)
        out.append(
            Encumbrance(EncumbranceKind.MORTGAGE, f"{bank}{locale.city_zh}分行", since=since)
        )
    others = [c for c in locale.other_courts if c[2] not in parties]
    if others and (not out or r.random() < 0.4):
        name, code, _ = r.choice(others)
        case = f"({since.year}){code}执{r.randint(100, 9999)}号"
        out.append(Encumbrance(EncumbranceKind.SEIZED, name, case, since + timedelta(days=30)))
    if asset is AssetKind.REAL_ESTATE and r.random() < 0.05:
        out.append(Encumbrance(EncumbranceKind.DISPUTED, "利害关系人", since=since))
    return tuple(out)


def _flat(r: random.Random, loc: Locale, _: RegistryRequest, i: int) -> Property:
    district = r.choice(loc.districts) if loc.districts else ""
    where = (
        f"{loc.city_zh}{district}{r.choice(_ROADS)}{r.randint(1, 399)}号"
        f"{r.randint(1, 30)}号楼{r.randint(1, 4)}单元{r.randint(1, 28)}0{r.randint(1, 4)}室"
    )
    year = r.randint(2016, 2025)
    title = f"鲁（{year}）{loc.city_zh}不动产权第{r.randrange(10**7):07d}号"
    # 不动产单元号: area code, cadastral zone and parcel (GB), building and unit (F).
    parcel = f"{r.randrange(10**6):06d}GB{r.randrange(10**5):05d}"
    unit = f"{loc.area_code}{parcel}F{r.randrange(10**8):08d}"
    area = f"{r.uniform(45, 180):.2f}平方米"
    details = {
        "不动产单元号": unit,
        "面积": area,
        "用途": r.choice(("住宅", "住宅", "商业", "车位")),
    }
    return Property(AssetKind.REAL_ESTATE, where, title, details)


def _vehicle(r: random.Random, loc: Locale, request: RegistryRequest, i: int) -> Property:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    plate = (
        request.ref.plate
        if request.ref.plate and i == 0  # the car the court named is on record
        else f"鲁{loc.plate_letter}" + "".join(r.choice(letters) for _ in range(5))
    )
    vin = "L" + "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(16))
    model = r.choice(_MODELS)
    details = {
        "车辆识别代号": vin,
        "颜色": r.choice(_COLOURS),
        "初次登记日期": (date(2012, 1, 1) + timedelta(days=r.randrange(4800))).isoformat(),
    }
    return Property(AssetKind.VEHICLE, f"{plate} {model}", plate, details)


def _shares(r: random.Random, loc: Locale, _: RegistryRequest, i: int) -> Property:
    company = f"{loc.city_zh}{r.choice(_WORDS)}{r.choice(_TRADES)}有限公司"
    capital = r.choice((50, 100, 200, 500, 1000))
    share = r.choice((10, 20, 25, 30, 40, 51, 60, 100))
    details = {
        "统一社会信用代码": credit_code(r, loc.area_code),
        "注册资本": f"{capital}万元",
        "认缴出资额": f"{capital * share / 100:g}万元",
        "持股比例": f"{share}%",
    }
    return Property(
        AssetKind.EQUITY, f"{company} {share}%股权", details["统一社会信用代码"], details
    )


def _account(r: random.Random, loc: Locale, _: RegistryRequest, i: int) -> Property:
    bank = r.choice((*_BANKS, _CITY_BANKS.get(loc.city, _BANKS[0])))
    account = "6" + "".join(str(r.randrange(10)) for _ in range(18))
    balance = f"{r.uniform(0, 250000):,.2f}元"
    details = {"开户行": f"{bank}{loc.city_zh}分行", "账户类型": "活期储蓄", "余额": balance}
    return Property(AssetKind.DEPOSIT, f"{bank} 账号{account}", account, details)


def credit_code(r: random.Random, area_code: str) -> str:
    """A unified social credit code (GB 32100-2015) with a correct check character."""
    body = "91" + area_code[:6] + "".join(r.choice(SOCIAL_CREDIT_ALPHABET[:-1]) for _ in range(9))
    return body + social_credit_check_char(body)
