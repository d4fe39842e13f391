"""Fictitious people, companies and plates for the demo and the simulator: names drawn from a
list, ID numbers and credit codes generated with correct check characters for the cities' area
codes. Nothing here is real, and none of it is ever logged."""

from __future__ import annotations

import random

from jiaodong.domain.identifiers import (
    SOCIAL_CREDIT_ALPHABET,
    resident_id_check_char,
    social_credit_check_char,
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超")
COMPANIES = ("海达", "鲁信", "蓝海", "金港", "东方", "恒泰", "瑞丰", "华通")
PLATE_LETTERS = {"qingdao": "B", "yantai": "F", "weifang": "G", "weihai": "K", "rizhao": "L"}


def resident_id(rng: random.Random, area: str) -> str:
    body = f"{area}{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    return body + resident_id_check_char(body)


def credit_code(rng: random.Random, area: str) -> str:
    body = "91" + area + "".join(rng.choice(SOCIAL_CREDIT_ALPHABET) for _ in range(9))
    return body + social_credit_check_char(body)
