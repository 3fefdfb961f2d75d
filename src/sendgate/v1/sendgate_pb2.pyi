# DO NOT EDIT: generated from proto/sendgate/v1/sendgate.proto by scripts/gen_proto.py
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    ALLOW: _ClassVar[Decision]
    DENY: _ClassVar[Decision]
    REVIEW: _ClassVar[Decision]

class Via(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIA_UNSPECIFIED: _ClassVar[Via]
    PHONE_NUMBER: _ClassVar[Via]
    USERNAME: _ClassVar[Via]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    MONTHLY_UNREPLIED_LIMIT: _ClassVar[Reason]
    USERNAME_LIMIT: _ClassVar[Reason]
    BUSINESS_TIER_LIMIT: _ClassVar[Reason]
    NO_OPT_IN: _ClassVar[Reason]
    ACCOUNT_BANNED: _ClassVar[Reason]
    SUSPECTED_BULK: _ClassVar[Reason]
    BACKEND_UNAVAILABLE: _ClassVar[Reason]

class Warning(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NONE: _ClassVar[Warning]
    APPROACHING: _ClassVar[Warning]
    AT_LIMIT: _ClassVar[Warning]

class Quality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUALITY_UNSPECIFIED: _ClassVar[Quality]
    HIGH: _ClassVar[Quality]
    MEDIUM: _ClassVar[Quality]
    LOW: _ClassVar[Quality]

class AccountStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATUS_UNSPECIFIED: _ClassVar[AccountStatus]
    CONNECTED: _ClassVar[AccountStatus]
    FLAGGED: _ClassVar[AccountStatus]
    RESTRICTED: _ClassVar[AccountStatus]
    BANNED: _ClassVar[AccountStatus]

class Flag(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FLAG_UNSPECIFIED: _ClassVar[Flag]
    QUALITY_LOW: _ClassVar[Flag]
    BULK_SUSPECTED: _ClassVar[Flag]
    BAN_EVASION: _ClassVar[Flag]

class FeedbackKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_KIND_UNSPECIFIED: _ClassVar[FeedbackKind]
    BLOCK: _ClassVar[FeedbackKind]
    SPAM_REPORT: _ClassVar[FeedbackKind]

class AccountKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_KIND_UNSPECIFIED: _ClassVar[AccountKind]
    PERSONAL: _ClassVar[AccountKind]
    BUSINESS: _ClassVar[AccountKind]

class ExceptionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXCEPTION_REASON_UNSPECIFIED: _ClassVar[ExceptionReason]
    TALKING_TO_CUSTOMERS_OR_EMPLOYEES: _ClassVar[ExceptionReason]
    REACHING_NEW_PERSONAL_CONNECTIONS: _ClassVar[ExceptionReason]
    INVITING_TO_LARGE_EVENT: _ClassVar[ExceptionReason]
    RECONNECTING_AFTER_NEW_PHONE: _ClassVar[ExceptionReason]

class ExceptionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXCEPTION_STATE_UNSPECIFIED: _ClassVar[ExceptionState]
    PENDING: _ClassVar[ExceptionState]
    APPROVED: _ClassVar[ExceptionState]
    REJECTED: _ClassVar[ExceptionState]
    EXPIRED: _ClassVar[ExceptionState]
DECISION_UNSPECIFIED: Decision
ALLOW: Decision
DENY: Decision
REVIEW: Decision
VIA_UNSPECIFIED: Via
PHONE_NUMBER: Via
USERNAME: Via
REASON_UNSPECIFIED: Reason
MONTHLY_UNREPLIED_LIMIT: Reason
USERNAME_LIMIT: Reason
BUSINESS_TIER_LIMIT: Reason
NO_OPT_IN: Reason
ACCOUNT_BANNED: Reason
SUSPECTED_BULK: Reason
BACKEND_UNAVAILABLE: Reason
NONE: Warning
APPROACHING: Warning
AT_LIMIT: Warning
QUALITY_UNSPECIFIED: Quality
HIGH: Quality
MEDIUM: Quality
LOW: Quality
ACCOUNT_STATUS_UNSPECIFIED: AccountStatus
CONNECTED: AccountStatus
FLAGGED: AccountStatus
RESTRICTED: AccountStatus
BANNED: AccountStatus
FLAG_UNSPECIFIED: Flag
QUALITY_LOW: Flag
BULK_SUSPECTED: Flag
BAN_EVASION: Flag
FEEDBACK_KIND_UNSPECIFIED: FeedbackKind
BLOCK: FeedbackKind
SPAM_REPORT: FeedbackKind
ACCOUNT_KIND_UNSPECIFIED: AccountKind
PERSONAL: AccountKind
BUSINESS: AccountKind
EXCEPTION_REASON_UNSPECIFIED: ExceptionReason
TALKING_TO_CUSTOMERS_OR_EMPLOYEES: ExceptionReason
REACHING_NEW_PERSONAL_CONNECTIONS: ExceptionReason
INVITING_TO_LARGE_EVENT: ExceptionReason
RECONNECTING_AFTER_NEW_PHONE: ExceptionReason
EXCEPTION_STATE_UNSPECIFIED: ExceptionState
PENDING: ExceptionState
APPROVED: ExceptionState
REJECTED: ExceptionState
EXPIRED: ExceptionState

class Usage(_message.Message):
    __slots__ = ("used", "limit", "remaining", "resets_at", "username_used", "username_limit", "tier_limit", "unique_users_24h", "quality", "status", "flags")
    USED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    RESETS_AT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_USED_FIELD_NUMBER: _ClassVar[int]
    USERNAME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TIER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_USERS_24H_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    used: int
    limit: int
    remaining: int
    resets_at: int
    username_used: int
    username_limit: int
    tier_limit: int
    unique_users_24h: int
    quality: Quality
    status: AccountStatus
    flags: _containers.RepeatedScalarFieldContainer[Flag]
    def __init__(self, used: _Optional[int] = ..., limit: _Optional[int] = ..., remaining: _Optional[int] = ..., resets_at: _Optional[int] = ..., username_used: _Optional[int] = ..., username_limit: _Optional[int] = ..., tier_limit: _Optional[int] = ..., unique_users_24h: _Optional[int] = ..., quality: _Optional[_Union[Quality, str]] = ..., status: _Optional[_Union[AccountStatus, str]] = ..., flags: _Optional[_Iterable[_Union[Flag, str]]] = ...) -> None: ...

class CanSendRequest(_message.Message):
    __slots__ = ("sender", "recipient", "message_id", "via", "dry_run", "at_unix_ms")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    sender: str
    recipient: str
    message_id: str
    via: Via
    dry_run: bool
    at_unix_ms: int
    def __init__(self, sender: _Optional[str] = ..., recipient: _Optional[str] = ..., message_id: _Optional[str] = ..., via: _Optional[_Union[Via, str]] = ..., dry_run: _Optional[bool] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class CanSendResponse(_message.Message):
    __slots__ = ("decision", "reason", "counted", "usage", "warning", "retry_after_ms", "duplicate", "degraded")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reason: Reason
    counted: bool
    usage: Usage
    warning: Warning
    retry_after_ms: int
    duplicate: bool
    degraded: bool
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[_Union[Reason, str]] = ..., counted: _Optional[bool] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., warning: _Optional[_Union[Warning, str]] = ..., retry_after_ms: _Optional[int] = ..., duplicate: _Optional[bool] = ..., degraded: _Optional[bool] = ...) -> None: ...

class CanSendBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CanSendRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CanSendRequest, _Mapping]]] = ...) -> None: ...

class CanSendBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[CanSendResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[CanSendResponse, _Mapping]]] = ...) -> None: ...

class RecordReplyRequest(_message.Message):
    __slots__ = ("replier", "replied_to", "at_unix_ms")
    REPLIER_FIELD_NUMBER: _ClassVar[int]
    REPLIED_TO_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    replier: str
    replied_to: str
    at_unix_ms: int
    def __init__(self, replier: _Optional[str] = ..., replied_to: _Optional[str] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class RecordReplyResponse(_message.Message):
    __slots__ = ("refunded",)
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    refunded: int
    def __init__(self, refunded: _Optional[int] = ...) -> None: ...

class RecordFeedbackRequest(_message.Message):
    __slots__ = ("reporter", "subject", "kind", "at_unix_ms")
    REPORTER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    reporter: str
    subject: str
    kind: FeedbackKind
    at_unix_ms: int
    def __init__(self, reporter: _Optional[str] = ..., subject: _Optional[str] = ..., kind: _Optional[_Union[FeedbackKind, str]] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class RecordFeedbackResponse(_message.Message):
    __slots__ = ("quality",)
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    quality: Quality
    def __init__(self, quality: _Optional[_Union[Quality, str]] = ...) -> None: ...

class RecordOptInRequest(_message.Message):
    __slots__ = ("business", "user", "opted_in", "at_unix_ms")
    BUSINESS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    OPTED_IN_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    business: str
    user: str
    opted_in: bool
    at_unix_ms: int
    def __init__(self, business: _Optional[str] = ..., user: _Optional[str] = ..., opted_in: _Optional[bool] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class RecordOptInResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("account", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("usage",)
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: Usage
    def __init__(self, usage: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...

class RequestExceptionRequest(_message.Message):
    __slots__ = ("account", "reason", "note", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    reason: ExceptionReason
    note: str
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., reason: _Optional[_Union[ExceptionReason, str]] = ..., note: _Optional[str] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class RequestExceptionResponse(_message.Message):
    __slots__ = ("request_id", "state")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    state: ExceptionState
    def __init__(self, request_id: _Optional[str] = ..., state: _Optional[_Union[ExceptionState, str]] = ...) -> None: ...

class CheckRegistrationRequest(_message.Message):
    __slots__ = ("account", "identifiers", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    identifiers: _containers.RepeatedScalarFieldContainer[str]
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., identifiers: _Optional[_Iterable[str]] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class CheckRegistrationResponse(_message.Message):
    __slots__ = ("decision", "matched_banned_accounts")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    MATCHED_BANNED_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    matched_banned_accounts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., matched_banned_accounts: _Optional[_Iterable[str]] = ...) -> None: ...

class UpsertAccountRequest(_message.Message):
    __slots__ = ("account", "kind", "business_verified", "identity_verified", "registered_at", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    kind: AccountKind
    business_verified: bool
    identity_verified: bool
    registered_at: int
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., kind: _Optional[_Union[AccountKind, str]] = ..., business_verified: _Optional[bool] = ..., identity_verified: _Optional[bool] = ..., registered_at: _Optional[int] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account", "kind", "business_verified", "identity_verified", "registered_at", "usage", "banned", "ban_reason", "exceptions", "bulk_score", "features", "tier_index")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    BANNED_FIELD_NUMBER: _ClassVar[int]
    BAN_REASON_FIELD_NUMBER: _ClassVar[int]
    EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    BULK_SCORE_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    TIER_INDEX_FIELD_NUMBER: _ClassVar[int]
    account: str
    kind: AccountKind
    business_verified: bool
    identity_verified: bool
    registered_at: int
    usage: Usage
    banned: bool
    ban_reason: str
    exceptions: _containers.RepeatedCompositeFieldContainer[ExceptionRequest]
    bulk_score: float
    features: _containers.ScalarMap[str, float]
    tier_index: int
    def __init__(self, account: _Optional[str] = ..., kind: _Optional[_Union[AccountKind, str]] = ..., business_verified: _Optional[bool] = ..., identity_verified: _Optional[bool] = ..., registered_at: _Optional[int] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., banned: _Optional[bool] = ..., ban_reason: _Optional[str] = ..., exceptions: _Optional[_Iterable[_Union[ExceptionRequest, _Mapping]]] = ..., bulk_score: _Optional[float] = ..., features: _Optional[_Mapping[str, float]] = ..., tier_index: _Optional[int] = ...) -> None: ...

class UpsertAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class ExceptionRequest(_message.Message):
    __slots__ = ("request_id", "account", "reason", "note", "state", "extra_allowance", "expires_at", "requested_at", "reviewed_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXTRA_ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    account: str
    reason: ExceptionReason
    note: str
    state: ExceptionState
    extra_allowance: int
    expires_at: int
    requested_at: int
    reviewed_at: int
    def __init__(self, request_id: _Optional[str] = ..., account: _Optional[str] = ..., reason: _Optional[_Union[ExceptionReason, str]] = ..., note: _Optional[str] = ..., state: _Optional[_Union[ExceptionState, str]] = ..., extra_allowance: _Optional[int] = ..., expires_at: _Optional[int] = ..., requested_at: _Optional[int] = ..., reviewed_at: _Optional[int] = ...) -> None: ...

class ReviewExceptionRequest(_message.Message):
    __slots__ = ("request_id", "approve", "extra_allowance", "expires_at", "at_unix_ms")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPROVE_FIELD_NUMBER: _ClassVar[int]
    EXTRA_ALLOWANCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    approve: bool
    extra_allowance: int
    expires_at: int
    at_unix_ms: int
    def __init__(self, request_id: _Optional[str] = ..., approve: _Optional[bool] = ..., extra_allowance: _Optional[int] = ..., expires_at: _Optional[int] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class ReviewExceptionResponse(_message.Message):
    __slots__ = ("exception",)
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    exception: ExceptionRequest
    def __init__(self, exception: _Optional[_Union[ExceptionRequest, _Mapping]] = ...) -> None: ...

class ListExceptionsRequest(_message.Message):
    __slots__ = ("state", "at_unix_ms")
    STATE_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    state: ExceptionState
    at_unix_ms: int
    def __init__(self, state: _Optional[_Union[ExceptionState, str]] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class ListExceptionsResponse(_message.Message):
    __slots__ = ("exceptions",)
    EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    exceptions: _containers.RepeatedCompositeFieldContainer[ExceptionRequest]
    def __init__(self, exceptions: _Optional[_Iterable[_Union[ExceptionRequest, _Mapping]]] = ...) -> None: ...

class BanAccountRequest(_message.Message):
    __slots__ = ("account", "reason", "identifiers", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    reason: str
    identifiers: _containers.RepeatedScalarFieldContainer[str]
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., reason: _Optional[str] = ..., identifiers: _Optional[_Iterable[str]] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class BanAccountResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnbanAccountRequest(_message.Message):
    __slots__ = ("account", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class UnbanAccountResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EvaluateTierRequest(_message.Message):
    __slots__ = ("account", "at_unix_ms")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    account: str
    at_unix_ms: int
    def __init__(self, account: _Optional[str] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class EvaluateTierResponse(_message.Message):
    __slots__ = ("tier_limit", "tier_index", "changed", "reasons", "usage")
    TIER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TIER_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    tier_limit: int
    tier_index: int
    changed: bool
    reasons: _containers.RepeatedScalarFieldContainer[str]
    usage: Usage
    def __init__(self, tier_limit: _Optional[int] = ..., tier_index: _Optional[int] = ..., changed: _Optional[bool] = ..., reasons: _Optional[_Iterable[str]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...
