"""The TWS API vocabulary the simulator speaks: its server version, the message ids it reads and
sends, the tick types of live and delayed market data, and the text of each IB error code it can
answer with. Layouts follow ib_insync 0.9.86 (client.py for what arrives, decoder.py for what we
send) and /work/shared/TWS_PROTOCOL.md.
"""

SERVER_VERSION = 176
MIN_CLIENT_VERSION = 157

# Incoming message ids (client -> TWS).
REQ_MKT_DATA = 1
CANCEL_MKT_DATA = 2
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_CONTRACT_DETAILS = 9
REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
REQ_AUTO_OPEN_ORDERS = 15
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_CURRENT_TIME = 49
REQ_MARKET_DATA_TYPE = 59
REQ_POSITIONS = 61
REQ_ACCOUNT_SUMMARY = 62
CANCEL_ACCOUNT_SUMMARY = 63
CANCEL_POSITIONS = 64
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
CANCEL_ACCOUNT_UPDATES_MULTI = 77
REQ_COMPLETED_ORDERS = 99

# Outgoing message ids (TWS -> client).
TICK_PRICE = 1
ORDER_STATUS = 3
ERR_MSG = 4
OPEN_ORDER = 5
ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
NEXT_VALID_ID = 9
CONTRACT_DATA = 10
EXECUTION_DATA = 11
MANAGED_ACCTS = 15
HISTORICAL_DATA = 17
TICK_STRING = 46
CURRENT_TIME = 49
CONTRACT_DATA_END = 52
OPEN_ORDER_END = 53
ACCT_DOWNLOAD_END = 54
EXECUTION_DATA_END = 55
TICK_SNAPSHOT_END = 57
MARKET_DATA_TYPE = 58
COMMISSION_REPORT = 59
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_SUMMARY = 63
ACCOUNT_SUMMARY_END = 64
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74
COMPLETED_ORDERS_END = 102

# Tick types: live ids, and the delayed ids TWS uses for market data type 3 / 4.
LIVE_TICKS = {"bid": 1, "ask": 2, "last": 4, "close": 9}
DELAYED_TICKS = {"bid": 66, "ask": 67, "last": 68, "close": 75}
LAST_TIMESTAMP = 45

ERROR_TEXT = {
    162: "Historical Market Data Service error message:HMDS query returned no data",
    200: "No security definition has been found for the request",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
    354: "Requested market data is not subscribed.",
    387: "Unsupported order type for this exchange and security type.",
    10089: (
        "Requested market data requires additional subscription for API. "
        "See link in 'Market Data Connections' dialog for more details."
    ),
    10147: "OrderId that needs to be cancelled is not found.",
    10167: "Requested market data is not subscribed. Displaying delayed market data.",
    2104: "Market data farm connection is OK:usfarm",
    2106: "HMDS data farm connection is OK:ushmds",
    2158: "Sec-def data farm connection is OK:secdefnj",
}

# Errors that end a market data request (everything except the delayed-data warning).
MARKET_DATA_WARNINGS = {10167}
