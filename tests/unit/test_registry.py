"""The court registry: the real files, lookups, and every kind of file error with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiaodong.domain.errors import NotFound, RegistryError
from jiaodong.domain.registry import Registry, district_key, parse_registry
from jiaodong.files.registry import load_registry

CITIES_HEADER = "city,name_zh,name_en,node,area_code,case_code"
COURTS_HEADER = "court_id,case_code,name_zh,name_en,city,level,confidence,node,districts"

# Line numbers matter in the error tests: line 1 is the comment, line 2 the header.
CITIES = f"""# two cities
{CITIES_HEADER}
qingdao,青岛市,Qingdao,node-qingdao,370200,鲁02
yantai,烟台市,Yantai,node-yantai,370600,鲁06
"""
COURTS = f"""# four courts
{COURTS_HEADER}
370200,鲁02,青岛市中级人民法院,Qingdao Intermediate,qingdao,intermediate,confirmed,node-qingdao,
370211,鲁0211,青岛市黄岛区人民法院,Huangdao,qingdao,basic,confirmed,node-qingdao,黄岛区
370600,鲁06,烟台市中级人民法院,Yantai Intermediate,yantai,intermediate,inferred,node-yantai,
370614,鲁0614,烟台市蓬莱区人民法院,Penglai,yantai,basic,inferred,node-yantai,蓬莱区
"""
GOOD_COURT = "370212,鲁0212,崂山法院,Laoshan,qingdao,basic,inferred,node-qingdao,崂山区"


def parse(cities: str = CITIES, courts: str = COURTS) -> Registry:
    return parse_registry(cities, "cities.csv", courts, "courts.csv")


def court_error(line: str) -> RegistryError:
    """The error for COURTS with ``line`` appended: it is line 7 of courts.csv."""
    with pytest.raises(RegistryError) as caught:
        parse(courts=COURTS + line + "\n")
    return caught.value


# --- the real files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Registry:
    return load_registry()


def test_real_files_load_46_courts_in_5_cities(real: Registry) -> None:
    assert len(real.courts) == 46
    assert sorted(real.cities) == ["qingdao", "rizhao", "weifang", "weihai", "yantai"]
    assert real.nodes() == [
        "node-qingdao",
        "node-yantai",
        "node-weifang",
        "node-weihai",
        "node-rizhao",
    ]


def test_real_files_match_the_reference_list(real: Registry) -> None:
    reference = Path(__file__).resolve().parents[3] / "shared/reference/jiaodong-courts.csv"
    if not reference.exists():
        pytest.skip("reference list not present")
    rows = [line.split(",") for line in reference.read_text(encoding="utf-8").splitlines()[1:]]
    assert {r[0] for r in rows} == set(real.courts)
    for court_id, case_code, name_zh, _, city, level, confidence in rows:
        court = real.court(court_id)
        assert (court.case_code, court.name_zh, court.city) == (case_code, name_zh, city)
        assert (court.level, court.confidence) == (level, confidence)


def test_every_court_has_its_city_node(real: Registry) -> None:
    for court in real.courts.values():
        assert court.node == real.city(court.city).node == f"node-{court.city}"
    assert sum(len(real.courts_of_node(n)) for n in real.nodes()) == 46


def test_every_city_has_an_intermediate_court(real: Registry) -> None:
    for city in real.cities.values():
        court = real.intermediate_court(city.city)
        assert (court.level, court.city) == ("intermediate", city.city)
        assert court.court_id == city.area_code
        assert court.districts == ()


def test_every_basic_court_serves_its_own_district(real: Registry) -> None:
    for court in real.courts.values():
        if court.level == "basic":
            assert court.districts, court.court_id
            for district in court.districts:
                assert real.court_for_district(court.city, district) == court
                # The court's name carries its district: 青岛市黄岛区人民法院 serves 黄岛区.
                assert district_key(district) in court.name_zh


def test_real_districts_are_the_current_ones(real: Registry) -> None:
    assert real.court("370211").districts == ("黄岛区",)
    assert real.court("370614").districts == ("蓬莱区",)
    assert real.court("370612").districts == ("牟平区",)
    assert real.court("370281").districts == ("胶州市",)
    assert real.court("371122").districts == ("莒县",)
    assert len(real.districts("qingdao")) == 10
    assert len(real.districts("yantai")) == 11


# --- lookups ----------------------------------------------------------------------------------


def test_lookups(real: Registry) -> None:
    assert real.court("370211").name_en == "Huangdao District People's Court"
    assert real.city("weihai").name_zh == "威海市"
    assert [c.court_id for c in real.courts_in_city("weihai")] == [
        "371000",
        "371002",
        "371003",
        "371082",
        "371083",
    ]
    assert {c.city for c in real.courts_of_node("node-rizhao")} == {"rizhao"}
    assert real.court_by_case_code("鲁0211") == real.court("370211")
    assert real.court_by_case_code("魯02") == real.court("370200")
    assert real.court_by_case_code("鲁99") is None


def test_district_lookup_accepts_short_and_prefixed_names(real: Registry) -> None:
    huangdao = real.court("370211")
    for name in ("黄岛区", "黄岛", " 黄岛 ", "青岛市黄岛区", "青岛黄岛", "黄岛區"):
        assert real.court_for_district("qingdao", name) == huangdao, name
    assert real.court_for_district("rizhao", "莒") == real.court("371122")
    assert real.court_for_district("qingdao", "胶州") == real.court("370281")
    assert real.court_for_district("qingdao", "市南") == real.court("370202")
    assert real.court_for_district("qingdao", "蓬莱区") is None
    assert real.court_for_district("qingdao", "") is None


def test_find_city_by_id_or_name(real: Registry) -> None:
    for text in ("yantai", "Yantai", "YANTAI", "烟台", "烟台市", " yantai "):
        found = real.find_city(text)
        assert found is not None and found.city == "yantai", text
    assert real.find_city("jinan") is None


def test_unknown_things_raise_not_found(real: Registry) -> None:
    with pytest.raises(NotFound, match="370299"):
        real.court("370299")
    with pytest.raises(NotFound, match="jinan"):
        real.city("jinan")
    with pytest.raises(NotFound, match="jinan"):
        real.courts_in_city("jinan")
    with pytest.raises(NotFound, match="jinan"):
        real.intermediate_court("jinan")
    with pytest.raises(NotFound, match="node-jinan"):
        real.courts_of_node("node-jinan")
    with pytest.raises(NotFound):
        real.court_for_district("jinan", "历下区")


def test_loader_uses_the_env_folder_and_names_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cities.csv").write_text(CITIES, encoding="utf-8")
    (tmp_path / "courts.csv").write_text(COURTS + "370211,x\n", encoding="utf-8")
    monkeypatch.setenv("JD_COURTS_DIR", str(tmp_path))
    with pytest.raises(RegistryError) as caught:
        load_registry()
    assert caught.value.file == str(tmp_path / "courts.csv")
    assert caught.value.line == 7
    (tmp_path / "courts.csv").write_text("\ufeff" + COURTS, encoding="utf-8")  # Excel's BOM
    assert len(load_registry().courts) == 4
    assert len(load_registry(tmp_path).courts) == 4


def test_loader_refuses_text_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "cities.csv").write_text(CITIES, encoding="utf-8")
    (tmp_path / "courts.csv").write_bytes(COURTS.encode("gbk"))
    with pytest.raises(RegistryError, match="UTF-8") as caught:
        load_registry(tmp_path)
    assert caught.value.line == 3


# --- file errors name the file and the line ---------------------------------------------------


def test_small_files_parse() -> None:
    registry = parse()
    assert len(registry.courts) == 4
    assert parse(courts=COURTS + GOOD_COURT + "\n").court("370212").districts == ("崂山区",)
    spaced = COURTS.replace("\n370211", "\n\n# a comment\n  370211")
    assert parse(courts=spaced).court("370211").case_code == "鲁0211"


def test_several_districts_per_court() -> None:
    line = "370212,鲁0212,崂山法院,Laoshan,qingdao,basic,inferred,node-qingdao,崂山区; 李沧区;"
    registry = parse(courts=COURTS + line + "\n")
    assert registry.court("370212").districts == ("崂山区", "李沧区")
    assert registry.court_for_district("qingdao", "李沧") == registry.court("370212")


def test_duplicate_court_id() -> None:
    error = court_error(GOOD_COURT.replace("370212,鲁0212", "370211,鲁0299"))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "duplicate court id 370211 (first on line 4)" in str(error)
    assert str(error).startswith("courts.csv:7: ")


def test_duplicate_case_code() -> None:
    error = court_error(GOOD_COURT.replace("鲁0212", "魯0211"))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "duplicate case code 鲁0211 (first on line 4)" in error.message


def test_unknown_city() -> None:
    error = court_error(GOOD_COURT.replace(",qingdao,", ",jinan,"))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "unknown city 'jinan'" in error.message


def test_court_without_a_node() -> None:
    error = court_error(GOOD_COURT.replace("node-qingdao", ""))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "has no node" in error.message


def test_court_on_another_citys_node() -> None:
    error = court_error(GOOD_COURT.replace("node-qingdao", "node-yantai"))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "'node-yantai' is not the node of qingdao (node-qingdao" in error.message


@pytest.mark.parametrize("court_id", ["37021", "3702120", "37021x", ""])
def test_bad_court_id(court_id: str) -> None:
    error = court_error(GOOD_COURT.replace("370212", court_id, 1))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "is not 6 digits" in error.message


def test_bad_level() -> None:
    error = court_error(GOOD_COURT.replace(",basic,", ",high,"))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "level 'high' is not one of basic, intermediate" in error.message


def test_bad_confidence_and_case_code() -> None:
    assert "confidence" in court_error(GOOD_COURT.replace("inferred", "maybe")).message
    assert "case_code" in court_error(GOOD_COURT.replace("鲁0212", "0212")).message


def test_missing_column() -> None:
    courts = COURTS.replace(",confidence,", ",").replace(",confirmed,", ",")
    with pytest.raises(RegistryError) as caught:
        parse(courts=courts)
    assert (caught.value.file, caught.value.line) == ("courts.csv", 2)
    assert "missing column confidence" in caught.value.message


def test_missing_column_in_cities() -> None:
    with pytest.raises(RegistryError) as caught:
        parse(cities=CITIES.replace(",node,", ","))
    assert (caught.value.file, caught.value.line) == ("cities.csv", 2)
    assert "missing column node" in caught.value.message


def test_unknown_column_and_short_line() -> None:
    with pytest.raises(RegistryError, match="unknown column note"):
        parse(courts=COURTS.replace(",districts", ",districts,note"))
    error = court_error("370212,鲁0212,崂山法院")
    columns = COURTS_HEADER.replace(",", ", ")
    assert (error.line, error.message) == (7, f"3 fields, expected 9 ({columns})")


def test_empty_file() -> None:
    with pytest.raises(RegistryError) as caught:
        parse(courts="# nothing here\n")
    assert (caught.value.file, caught.value.line) == ("courts.csv", 1)
    assert "no header line" in caught.value.message


def test_district_claimed_by_two_courts_of_a_city() -> None:
    error = court_error(GOOD_COURT.replace("崂山区", "崂山区;黄岛区"))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "district 黄岛区 of qingdao is already served by court 370211 (line 4)" in error.message
    # The same district written another way is still the same district.
    error = court_error(GOOD_COURT.replace("崂山区", "青岛市黄岛区"))
    assert (error.line, "court 370211 (line 4)" in error.message) == (7, True)
    error = court_error(GOOD_COURT.replace("崂山区", "崂山区;崂山区"))
    assert (error.line, "already served by itself" in error.message) == (7, True)


def test_same_district_name_in_two_cities_is_fine() -> None:
    line = "370612,鲁0612,烟台某区法院,Other,yantai,basic,inferred,node-yantai,黄岛区"
    registry = parse(courts=COURTS + line + "\n")
    assert registry.court_for_district("yantai", "黄岛区") == registry.court("370612")


def test_district_must_be_a_full_name() -> None:
    error = court_error(GOOD_COURT.replace("崂山区", "崂山"))
    assert (error.file, error.line) == ("courts.csv", 7)
    assert "not a full name" in error.message


def test_city_without_an_intermediate_court() -> None:
    courts = "\n".join(line for line in COURTS.splitlines() if not line.startswith("370600"))
    with pytest.raises(RegistryError) as caught:
        parse(courts=courts)
    assert (caught.value.file, caught.value.line) == ("cities.csv", 4)
    assert "city yantai has no intermediate court in courts.csv" in caught.value.message


def test_a_second_intermediate_court_does_not_replace_the_citys() -> None:
    line = "370272,鲁72,青岛海事法院,Maritime,qingdao,intermediate,confirmed,node-qingdao,"
    registry = parse(courts=COURTS + line + "\n")
    assert registry.intermediate_court("qingdao").court_id == "370200"
    assert registry.court_by_case_code("鲁72") == registry.court("370272")


def test_city_errors() -> None:
    cases = {
        "qingdao,青岛市,Qingdao,node-qingdao,370200,鲁99": "duplicate city qingdao (first on",
        "weihai,威海市,Weihai,node-weihai,371000,鲁02": "duplicate case code 鲁02",
        "weihai,威海市,Weihai,,371000,鲁10": "node is empty",
        "weihai,威海市,Weihai,node-weihai,3710,鲁10": "area_code '3710' is not a 6-digit area code",
        "Weihai,威海市,Weihai,node-weihai,371000,鲁10": "city 'Weihai' is not a lowercase id",
    }
    for line, message in cases.items():
        with pytest.raises(RegistryError) as caught:
            parse(cities=CITIES + line + "\n")
        assert (caught.value.file, caught.value.line) == ("cities.csv", 5), line
        assert message in caught.value.message, line


def test_bad_csv_quoting_names_the_line() -> None:
    error = court_error('370212,"鲁0212,x')
    assert (error.file, error.line) == ("courts.csv", 7)
