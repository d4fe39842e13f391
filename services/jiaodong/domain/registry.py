"""The court registry: cities, courts, the nodes hosting them and the districts they serve.

Pure: the parser takes the files' text and names; reading them is ``jiaodong.files.registry``.
Every problem in the files is a ``RegistryError`` naming the file and the 1-based line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass

from jiaodong.domain.errors import NotFound, RegistryError

LEVELS = ("basic", "intermediate")
CONFIDENCES = ("confirmed", "inferred")
CITY_COLUMNS = ("city", "name_zh", "name_en", "node", "area_code", "case_code")
COURT_COLUMNS = (
    "court_id",
    "case_code",
    "name_zh",
    "name_en",
    "city",
    "level",
    "confidence",
    "node",
    "districts",
)
DISTRICT_SUFFIXES = ("区", "市", "县")

_COURT_ID = re.compile(r"\d{6}")
_CITY_ID = re.compile(r"[a-z][a-z0-9_]*")
_NODE_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_CASE_CODE = re.compile(r"[\u4e00-\u9fff]\d{2}(\d{2})?")
# Traditional forms accepted on input; stored and compared in simplified form.
_SIMPLIFIED = str.maketrans({"魯": "鲁", "區": "区", "縣": "县"})


@dataclass(frozen=True)
class City:
    """One of the five cities, and the node hosting its courts."""

    city: str
    name_zh: str
    name_en: str
    node: str
    area_code: str
    case_code: str


@dataclass(frozen=True)
class Court:
    """One court: a basic court serves its ``districts``; an intermediate court serves its city."""

    court_id: str
    case_code: str
    name_zh: str
    name_en: str
    city: str
    level: str
    confidence: str
    node: str
    districts: tuple[str, ...]

    @property
    def label(self) -> str:
        """``370211 青岛市黄岛区人民法院``: how messages name a court."""
        return f"{self.court_id} {self.name_zh}"


def normal_case_code(code: str) -> str:
    """A case code in its stored form: trimmed, ``魯`` written ``鲁``."""
    return code.strip().translate(_SIMPLIFIED)


def district_key(name: str, city: City | None = None) -> str:
    """The comparable form of a district name: 青岛市黄岛区, 黄岛区 and 黄岛 all give 黄岛.

    Drops a leading city name (青岛市 or 青岛) and one trailing 区/市/县, never down to nothing.
    """
    key = "".join(name.split()).translate(_SIMPLIFIED)
    if city is not None:
        for prefix in (city.name_zh, city.name_zh.removesuffix("市")):
            if prefix and key.startswith(prefix) and len(key) > len(prefix):
                key = key[len(prefix) :]
                break
    if len(key) > 1 and key.endswith(DISTRICT_SUFFIXES):
        key = key[:-1]
    return key


class Registry:
    """Cities and courts, loaded once; lookups only."""

    def __init__(self, cities: dict[str, City], courts: dict[str, Court]) -> None:
        self.cities = cities
        self.courts = courts
        self._by_case_code = {c.case_code: c for c in courts.values()}
        self._by_district: dict[tuple[str, str], Court] = {}
        for court in courts.values():
            city = cities.get(court.city)
            for district in court.districts:
                self._by_district[(court.city, district_key(district, city))] = court

    def court(self, court_id: str) -> Court:
        court = self.courts.get(court_id.strip())
        if court is None:
            raise NotFound(f"there is no court {court_id!r} in the court registry")
        return court

    def city(self, city: str) -> City:
        found = self.cities.get(city.strip())
        if found is None:
            known = ", ".join(self.cities)
            raise NotFound(f"there is no city {city!r} in the court registry; cities are {known}")
        return found

    def find_city(self, text: str) -> City | None:
        """The city named by its id, English or Chinese name (qingdao, Qingdao, 青岛)."""
        wanted = text.strip()
        for city in self.cities.values():
            names = (city.city, city.name_en.lower(), city.name_zh, city.name_zh.removesuffix("市"))
            if wanted.lower() in names:
                return city
        return None

    def courts_in_city(self, city: str) -> list[Court]:
        key = self.city(city).city
        return sorted((c for c in self.courts.values() if c.city == key), key=_by_id)

    def courts_of_node(self, node: str) -> list[Court]:
        if node not in self.nodes():
            raise NotFound(f"there is no node {node!r}; nodes are {', '.join(self.nodes())}")
        return sorted((c for c in self.courts.values() if c.node == node), key=_by_id)

    def nodes(self) -> list[str]:
        """Node ids in the order of cities.csv."""
        return list(dict.fromkeys(c.node for c in self.cities.values()))

    def districts(self, city: str) -> list[str]:
        """Every district served by a court of the city, in file order."""
        key = self.city(city).city
        return [d for c in self.courts.values() if c.city == key for d in c.districts]

    def court_for_district(self, city: str, district: str) -> Court | None:
        """The court serving the district (full name or without its 区/市/县), or None."""
        found = self.city(city)
        return self._by_district.get((found.city, district_key(district, found)))

    def intermediate_court(self, city: str) -> Court:
        """The city's intermediate court: the one with the city's case code (鲁02 for Qingdao)."""
        found = self.city(city)
        court = self._by_case_code.get(found.case_code)
        if court is None or court.city != found.city or court.level != "intermediate":
            raise NotFound(f"city {found.city} has no intermediate court {found.case_code}")
        return court

    def court_by_case_code(self, code: str) -> Court | None:
        """The court with this case code; ``魯0211`` finds ``鲁0211``."""
        return self._by_case_code.get(normal_case_code(code))


def _by_id(court: Court) -> str:
    return court.court_id


@dataclass(frozen=True)
class _Row:
    file: str
    line: int
    values: dict[str, str]

    def fail(self, message: str) -> RegistryError:
        return RegistryError(self.file, self.line, message)

    def get(self, column: str) -> str:
        return self.values[column]

    def required(self, column: str) -> str:
        value = self.values[column]
        if not value:
            raise self.fail(f"{column} is empty")
        return value

    def matching(self, column: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self.required(column)
        if not pattern.fullmatch(value):
            raise self.fail(f"{column} {value!r} is not {expected}")
        return value

    def one_of(self, column: str, allowed: tuple[str, ...]) -> str:
        value = self.required(column)
        if value not in allowed:
            raise self.fail(f"{column} {value!r} is not one of {', '.join(allowed)}")
        return value


def _rows(text: str, file: str, columns: tuple[str, ...]) -> Iterator[_Row]:
    """The data rows of a CSV file with their line numbers; ``#`` lines and blank lines skipped."""
    header: list[str] | None = None
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            fields = [f.strip() for f in next(csv.reader([line], strict=True))]
        except csv.Error as exc:
            raise RegistryError(file, number, f"not a valid CSV line: {exc}") from exc
        if header is None:
            header = fields
            _check_header(header, file, number, columns)
            continue
        if len(fields) != len(header):
            raise RegistryError(
                file, number, f"{len(fields)} fields, expected {len(header)} ({', '.join(header)})"
            )
        yield _Row(file, number, dict(zip(header, fields, strict=True)))
    if header is None:
        raise RegistryError(file, 1, f"no header line; expected columns {', '.join(columns)}")


def _check_header(header: list[str], file: str, line: int, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise RegistryError(file, line, f"missing column {', '.join(missing)}")
    unknown = [c for c in header if c not in columns]
    if unknown:
        raise RegistryError(file, line, f"unknown column {', '.join(unknown)}")
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise RegistryError(file, line, f"column {', '.join(repeated)} appears twice")


def _once(seen: dict[str, int], value: str, row: _Row, what: str) -> None:
    """Fail if ``value`` was already seen on an earlier line of the same file."""
    if value in seen:
        raise row.fail(f"duplicate {what} {value} (first on line {seen[value]})")
    seen[value] = row.line


def _parse_cities(text: str, file: str) -> tuple[dict[str, City], dict[str, int]]:
    cities: dict[str, City] = {}
    lines: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    for row in _rows(text, file, CITY_COLUMNS):
        city = City(
            city=row.matching("city", _CITY_ID, "a lowercase id such as qingdao"),
            name_zh=row.required("name_zh"),
            name_en=row.required("name_en"),
            node=row.matching("node", _NODE_ID, "a node id such as node-qingdao"),
            area_code=row.matching("area_code", _COURT_ID, "a 6-digit area code"),
            case_code=normal_case_code(
                row.matching("case_code", _CASE_CODE, "a case code such as 鲁02")
            ),
        )
        _once(lines, city.city, row, "city")
        _once(seen_codes, city.case_code, row, "case code")
        cities[city.city] = city
    return cities, lines


def _parse_court(row: _Row, cities: dict[str, City]) -> Court:
    court_id = row.get("court_id")
    if not _COURT_ID.fullmatch(court_id):
        raise row.fail(f"court id {court_id!r} is not 6 digits")
    city_id = row.required("city")
    city = cities.get(city_id)
    if city is None:
        known = ", ".join(cities)
        raise row.fail(f"court {court_id}: unknown city {city_id!r}; cities are {known}")
    node = row.get("node")
    if not node:
        raise row.fail(f"court {court_id} has no node; {city_id} courts are on {city.node}")
    if node != city.node:
        raise row.fail(
            f"court {court_id}: node {node!r} is not the node of {city_id} ({city.node}, "
            "as declared in the cities file)"
        )
    districts = tuple(d.strip() for d in row.get("districts").split(";") if d.strip())
    for district in districts:
        if len(district) < 2 or not district.endswith(DISTRICT_SUFFIXES):
            raise row.fail(
                f"court {court_id}: district {district!r} is not a full name ending in 区, 市 or 县"
            )
    return Court(
        court_id=court_id,
        case_code=normal_case_code(
            row.matching("case_code", _CASE_CODE, "a case code such as 鲁0211 or 鲁02")
        ),
        name_zh=row.required("name_zh"),
        name_en=row.required("name_en"),
        city=city_id,
        level=row.one_of("level", LEVELS),
        confidence=row.one_of("confidence", CONFIDENCES),
        node=node,
        districts=districts,
    )


def _claim_districts(
    court: Court, row: _Row, city: City, claims: dict[tuple[str, str], tuple[Court, int]]
) -> None:
    """Fail if a district of ``court`` is already served by a court of the same city."""
    for district in court.districts:
        key = (court.city, district_key(district, city))
        if key in claims:
            other, line = claims[key]
            whose = "itself" if other is court else f"court {other.court_id} (line {line})"
            raise row.fail(
                f"court {court.court_id}: district {district} of {court.city} "
                f"is already served by {whose}"
            )
        claims[key] = (court, row.line)


def parse_registry(
    cities_text: str, cities_file: str, courts_text: str, courts_file: str
) -> Registry:
    """Parse and check cities.csv and courts.csv; the first problem raises ``RegistryError``."""
    cities, city_lines = _parse_cities(cities_text, cities_file)
    courts: dict[str, Court] = {}
    court_lines: dict[str, int] = {}
    case_codes: dict[str, int] = {}
    claims: dict[tuple[str, str], tuple[Court, int]] = {}
    for row in _rows(courts_text, courts_file, COURT_COLUMNS):
        court = _parse_court(row, cities)
        _once(court_lines, court.court_id, row, "court id")
        _once(case_codes, court.case_code, row, "case code")
        _claim_districts(court, row, cities[court.city], claims)
        courts[court.court_id] = court
    registry = Registry(cities, courts)
    for city in cities.values():
        # Routing by city alone goes to the city's intermediate court, so every city needs one.
        try:
            registry.intermediate_court(city.city)
        except NotFound as exc:
            raise RegistryError(
                cities_file,
                city_lines[city.city],
                f"city {city.city} has no intermediate court in {courts_file} "
                f"(level intermediate, city {city.city}, case code {city.case_code})",
            ) from exc
    return registry
