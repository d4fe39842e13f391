"""The board's own words, simplified Chinese first with an English switch. The platform's values
(statuses, task types, event kinds ...) are named by jiaodong.domain.words, courts and cities by
the registry."""

from __future__ import annotations

from dataclasses import dataclass

from jiaodong.domain import labels, words
from jiaodong.domain.registry import Registry
from jiaodong.v1 import delegation_pb2 as pb

LANG_COOKIE = "jd_board_lang"

UI: dict[str, tuple[str, str]] = {
    "title": ("胶东跨域委托执行指挥看板", "Jiaodong cross-court delegation board"),
    "command_centre": ("执行指挥中心", "Command centre"),
    "signed_in_as": ("当前身份", "Signed in as"),
    "region": ("全区", "region"),
    "live": ("实时", "live"),
    "offline": ("连接中断，重连中", "disconnected, reconnecting"),
    "cities": ("五市概况", "The five cities"),
    "city": ("城市", "City"),
    "open_in": ("在办受托", "Open in"),
    "open_out": ("在办委托", "Open out"),
    "due_soon": ("临期（3个工作日内）", "Due within 3 working days"),
    "breached": ("已超期", "Breached"),
    "on_time": ("按期率", "On-time rate"),
    "window": ("近{n}日", "last {n} days"),
    "matrix": (
        "城市间委托（行：委托方，列：受托方；颜色：超期率）",
        "City pairs (rows: from, columns: to; colour: breach rate)",
    ),
    "open_breached": ("在办 / 超期", "open / breached"),
    "at_risk": ("临期与超期队列（按剩余时间排序）", "At-risk queue (by time to breach)"),
    "delegation": ("委托事项", "Delegation"),
    "case_number": ("案号", "Case number"),
    "from": ("委托法院", "Requesting court"),
    "to": ("受托法院", "Entrusted court"),
    "task": ("事项类型", "Task"),
    "status": ("状态", "Status"),
    "limit": ("时限", "Limit"),
    "due_at": ("届满时间", "Due"),
    "left": ("剩余", "Left"),
    "working_days_left": ("{n}个工作日", "{n} working days"),
    "today": ("今日届满", "due today"),
    "overdue_hours": ("已超期{n}小时", "{n} h overdue"),
    "overdue_days": ("已超期{n}天", "{n} days overdue"),
    "hours_left": ("{n}小时", "{n} h"),
    "offline_node": ("离线", "offline"),
    "online_node": ("在线", "online"),
    "unpublished": ("待发消息", "Unsent"),
    "undelivered": ("未送达", "Undelivered"),
    "node_parked": ("节点死信", "Parked at node"),
    "days_range": ("{a}–{b}日", "{a}–{b} days"),
    "aging": ("在办时长", "Open for"),
    "over_days": ("超过{n}日", "over {n} days"),
    "nodes": ("节点状态", "Node health"),
    "node": ("节点", "Node"),
    "last_seen": ("最近消息", "Last message"),
    "never": ("暂无", "none yet"),
    "parked": ("死信（待处理消息）", "Parked messages"),
    "parked_count": ("协调中心死信 {n} 条", "{n} parked at the coordinator"),
    "notices": ("提示", "Notices"),
    "page": ("第{n}页", "page {n}"),
    "prev": ("上一页", "previous"),
    "next": ("下一页", "next"),
    "of_total": ("共{n}项", "{n} in all"),
    "none": ("无", "none"),
    "back": ("返回看板", "Back to the board"),
    "operations": (
        "异地执行协助行动日历（未来两周）",
        "On-site assistance operations (next two weeks)",
    ),
    "no_operations": (
        "未来两周无异地执行协助行动",
        "No on-site assistance operation in the next two weeks",
    ),
    "day": ("日期", "Day"),
    "op_window": ("时段", "Window"),
    "local_court": ("协助法院", "Local court"),
    "visiting": ("请求法院", "Requesting court"),
    "measure": ("措施", "Measure"),
    "officers": ("执行人员", "Officers"),
    "support": ("保障", "Support"),
    "reminded": ("已提醒", "reminded"),
    "detail": ("委托详情", "Delegation detail"),
    "debtor": ("被执行人", "Debtor"),
    "phone": ("电话", "Phone"),
    "address": ("地点", "Place"),
    "plate": ("车牌", "Plate"),
    "asset": ("财产类型", "Asset"),
    "priority": ("紧急程度", "Priority"),
    "requested_actions": ("委托事项内容", "Requested actions"),
    "read_recorded": ("本次查看已记录（个人信息）", "This read of personal data is recorded"),
    "history": ("办理经过", "History"),
    "clocks": ("时限", "Time limits"),
    "explain": ("计算说明（逐日）", "How it was computed (day by day)"),
    "actions": ("指挥操作", "Actions"),
    "escalate": ("督办", "Escalate"),
    "reroute": ("改派", "Reroute"),
    "annotate": ("批注", "Annotate"),
    "reason": ("理由", "Reason"),
    "to_court": ("改派至", "To court"),
    "confirm": ("确认", "Confirm"),
    "cancel": ("取消", "Cancel"),
    "confirm_escalate": ("确认对该事项督办？", "Escalate this delegation?"),
    "confirm_reroute": ("确认改派至所选法院？", "Reroute to the chosen court?"),
    "confirm_urge": ("确认向受托法院催办？", "Urge the entrusted court?"),
    "confirm_annotate": ("确认添加批注？", "Add this note?"),
    "urge": ("催办", "Urge"),
    "retry": ("重新处理", "Retry"),
    "discard": ("丢弃", "Discard"),
    "confirm_retry": ("确认重新处理该消息？", "Retry this message?"),
    "confirm_discard": ("确认丢弃该消息？", "Discard this message?"),
    "summary": ("内容摘要", "Summary"),
    "court": ("法院", "Court"),
    "open_parked": ("查看死信", "Open the parked messages"),
    "open_node_parked": ("查看{city}节点死信", "Open the parked messages of the {city} node"),
    "parked_at_node": ("{city}节点", "the {city} node"),
    "parked_at_coordinator": ("协调中心", "the coordinator"),
    "notes": ("指挥中心批注", "Operators' notes"),
    "sent": ("已提交，等待结果……", "Sent; waiting for the result ..."),
    "arrived": ("结果已到达", "The result has arrived"),
    "refused": ("被拒绝", "Refused"),
    "no_reroute": ("无可改派的法院", "no court to reroute to"),
    "not_allowed": ("无权查看或操作", "Not allowed"),
    "not_found": ("未找到", "Not found"),
    "sign_in": (
        "请使用操作员证书或开发登录令牌登录",
        "Sign in with an operator certificate or the development login token",
    ),
    "lang_switch": ("English", "中文"),
    "all": ("全部", "all"),
    "filter": ("筛选", "Filter"),
    "not_breached": ("未超期", "not breached"),
    "auditor_reads": ("审计员只读", "the auditor reads only"),
    "by": ("操作方", "By"),
    "at": ("时间", "At"),
    "text": ("说明", "Text"),
    "request_state": ("请求", "Request"),
}


@dataclass(frozen=True)
class Language:
    """What a template needs to speak one language."""

    code: str
    registry: Registry

    @property
    def other(self) -> str:
        return "en" if self.code == "zh" else "zh"

    def t(self, key: str, **values: object) -> str:
        names = UI.get(key)
        text = key if names is None else names[1 if self.code == "en" else 0]
        return text.format(**values) if values else text

    def status(self, value: str) -> str:
        return words.word(words.STATUS, value, self.code)

    def event(self, value: str) -> str:
        return words.word(words.EVENT, value, self.code)

    def task(self, value: str) -> str:
        return words.word(words.TASK, value, self.code)

    def asset(self, value: str) -> str:
        return words.word(words.ASSET, value, self.code)

    def goal(self, value: str) -> str:
        return words.word(words.GOAL, value, self.code)

    def clock_state(self, value: str) -> str:
        return words.word(words.CLOCK_STATE, value, self.code)

    def side(self, value: str) -> str:
        return words.word(words.SIDE, value, self.code)

    def priority(self, value: str) -> str:
        return words.word(words.PRIORITY, value, self.code)

    def reason(self, value: str) -> str:
        return words.word(words.REASON, value, self.code) if value else ""

    def result(self, value: str) -> str:
        return words.word(words.RESULT, value, self.code) if value else ""

    def measure(self, value: pb.Measure.ValueType) -> str:
        name = pb.Measure.Name(value).removeprefix("MEASURE_")
        return labels.label(labels.MEASURE, name, labels.Lang(self.code))

    def support(self, item: pb.SupportItem) -> str:
        """``司法警察（已落实）``: a support item and its state."""
        kind = pb.SupportKind.Name(item.kind).removeprefix("SUPPORT_KIND_")
        state = pb.SupportState.Name(item.state).removeprefix("SUPPORT_STATE_")
        lang = labels.Lang(self.code)
        shown = labels.label(labels.SUPPORT_STATE, state, lang)
        return (
            f"{labels.label(labels.SUPPORT, kind, lang)}（{shown}）"
            if self.code == "zh"
            else (f"{labels.label(labels.SUPPORT, kind, lang)} ({shown})")
        )

    def status_of(self, value: pb.Status.ValueType) -> str:
        return self.status(pb.Status.Name(value).removeprefix("STATUS_"))

    def city(self, city: str) -> str:
        found = self.registry.cities.get(city)
        if found is None:
            return city or "—"
        return found.name_en if self.code == "en" else found.name_zh

    def court(self, court_id: str) -> str:
        found = self.registry.courts.get(court_id)
        if found is None:
            return court_id or "—"
        return found.name_en if self.code == "en" else found.name_zh


def pick(requested: str | None, cookie: str | None) -> str:
    for value in (requested, cookie):
        if value in words.LANGUAGES:
            return value
    return words.DEFAULT_LANGUAGE
