"""Order matching: placeOrder for LMT and MKT orders on one contract or a BAG combo, filled as
the scenario's fill policy says (all, none, partial, or every leg but the unfilled ones), at the
limit price or the mark. Each fill becomes an execution with its commission, moves the world's
positions and is reported with openOrder / orderStatus as TWS reports them. Also cancelOrder
(error 10147 for an order that is not open) and the open orders requests. Mixed into
Connection, whose world, send, error and spawn it uses, with the contract lookup of
ContractRequests and the execution report of ExecutionRequests.
"""

from __future__ import annotations

import logging
from typing import Any

from .instruments import SimContract
from .messages import OPEN_ORDER, OPEN_ORDER_END, ORDER_STATUS
from .world import Order, World, now

__all__ = ["OrderRequests"]

log = logging.getLogger("dspops.simulator")


class OrderRequests:
    """placeOrder, cancelOrder, reqOpenOrders / reqAllOpenOrders, and the fills of placed orders."""

    world: World
    client_id: int | None

    def place_order(self, f: list[str]) -> None:
        order_id = int(f[1])
        wanted, i = self._parse_contract(f, 2)
        (_sec_id_type, _sec_id, action, qty, order_type, lmt, _aux, tif, _oca, account, _oc, _origin,
         order_ref) = f[i:i + 13]
        i += 13 + 8  # transmit, parentId, blockOrder, sweepToFill, displaySize, triggerMethod, outsideRth, hidden
        legs: list[tuple[SimContract, int, str]] = []
        bag = wanted[2].upper() == "BAG"
        unknown = False
        if bag:
            n = int(f[i])
            i += 1
            for _ in range(n):
                leg_contract = self.world.contract(int(f[i] or 0))
                if leg_contract is None:
                    unknown = True
                else:
                    legs.append((leg_contract, int(f[i + 1]), f[i + 2].upper()))
                i += 8
        contract = None if bag else self._lookup(wanted)
        order = Order(
            order_id=order_id,
            client_id=self.client_id or 0,
            perm_id=next(self.world.perm_ids),
            contract=contract,
            legs=legs,
            action=action.upper(),
            quantity=float(qty or 0),
            order_type=order_type.upper(),
            lmt_price=float(lmt) if lmt else None,
            tif=tif,
            account=account or self.world.account,
            order_ref=order_ref,
        )
        self.world.next_order_id = max(self.world.next_order_id, order_id + 1)

        async def answer() -> None:
            if unknown or (not bag and contract is None) or (bag and not legs):
                self.error(order_id, 200)
                return
            if order.order_type not in ("LMT", "MKT") or (order.order_type == "LMT" and order.lmt_price is None):
                self.error(order_id, 387)
                return
            self.world.orders[(order.client_id, order_id)] = order
            log.info(
                "client %s: placeOrder %d %s %s %s @ %s (%s)", self.client_id, order_id, order.action,
                order.quantity, contract.name if contract else "BAG " + "/".join(c.name for c, _, _ in legs),
                order.lmt_price, self.world.scenario.orders.fill,
            )
            self._send_open_order(order)
            self._send_order_status(order)
            self._fill(order)

        self.spawn(answer())

    def _fill(self, order: Order) -> None:
        policy = self.world.scenario.orders
        if policy.fill == "none":
            return
        qty = order.quantity
        if policy.fill == "partial":
            qty = max(float(int(order.quantity * policy.partial_fraction)), 1.0) if order.quantity > 1 else 0.0
            if qty == 0:
                return
        sign = 1 if order.action == "BUY" else -1
        if order.contract is not None:
            price = order.lmt_price if order.lmt_price is not None else self.world.mark_price(order.contract.con_id)
            self._execute(order, order.contract, order.action, qty, price)
            order.filled += qty
            order.avg_fill_price = price
            order.last_fill_price = price
        else:
            all_filled = True
            for leg, ratio, leg_action in order.legs:
                if policy.fill == "legs" and leg.con_id in self.world.resolved.unfilled_legs:
                    all_filled = False
                    log.info("fault: leg %s of order %d not filled", leg.name, order.order_id)
                    continue
                leg_sign = sign * (1 if leg_action == "BUY" else -1)
                price = self.world.mark_price(leg.con_id) or (order.lmt_price or 0.0)
                self._execute(order, leg, "BUY" if leg_sign > 0 else "SELL", qty * ratio, price)
            if all_filled:
                order.filled += qty
                order.avg_fill_price = order.lmt_price or 0.0
                order.last_fill_price = order.avg_fill_price
        if order.filled >= order.quantity - 1e-9:
            order.status = "Filled"
        self._send_order_status(order)
        if order.status == "Filled":
            self._send_open_order(order)

    def _execute(self, order: Order, c: SimContract, side: str, qty: float, price: float) -> None:
        policy = self.world.scenario.orders
        if c.sec_type == "STK":
            commission = max(round(qty * policy.commission_per_share, 2), 1.0)
        else:
            commission = round(qty * policy.commission_per_contract, 2)
        seq = next(self.world.exec_seq)
        e = {
            "con_id": c.con_id,
            "side": side,
            "quantity": qty,
            "price": price,
            "time": now(),
            "exec_id": f"0000s{seq:04d}.{now():%Y%m%d}.01.01",
            "order_ref": order.order_ref,
            "commission": commission,
            "commission_currency": "USD",
            "order_id": order.order_id,
            "perm_id": order.perm_id,
            "exchange": c.primary_exchange if c.sec_type == "STK" else c.exchange,
            "client_id": order.client_id,
        }
        self.world.executions.append(e)
        self.world.apply_fill(c.con_id, qty if side == "BUY" else -qty, price)
        self._send_execution(-1, e)

    def _send_order_status(self, o: Order) -> None:
        self.send(
            ORDER_STATUS, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id, 0,
            o.last_fill_price, o.client_id, "", 0,
        )

    def _send_open_order(self, o: Order) -> None:
        if o.contract is not None:
            c = o.contract
            head = [c.con_id, c.symbol, c.sec_type, c.last_trade_date, 0, "", c.multiplier,
                    c.exchange, c.currency, c.local_symbol, c.trading_class]
        else:
            head = [28812380, "VXM", "BAG", "", 0, "", "", "CFE", "USD", "", "COMB"]
        legs_descr = ",".join(f"{c.con_id}|{ratio}" for c, ratio, _ in o.legs)
        fields: list[Any] = [OPEN_ORDER, o.order_id, *head]
        fields += [o.action, o.quantity, o.order_type, o.lmt_price, "", o.tif, "", o.account, "", 0,
                   o.order_ref, o.client_id, o.perm_id, 0, 0, "", "",
                   "",  # deprecated sharesAllocation
                   "", "", "", "", "", "", "", "", "", "", "", "",  # faGroup .. exemptCode
                   "", "", "", "", "", "",  # auctionStrategy .. stockRangeUpper
                   "", 0, 0, 0, "", "", 0, 0, "", 0, 0,  # displaySize .. triggerMethod
                   "", "", "", ""]  # volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
        fields += [0, "", "", "", "", "", legs_descr if o.legs else ""]  # continuousUpdate .. comboLegsDescrip
        fields += [len(o.legs)]
        for c, ratio, action in o.legs:
            fields += [c.con_id, ratio, action, c.exchange, 0, 0, "", -1]
        fields += [0, 0]  # orderComboLegs count, smartComboRoutingParams count
        fields += ["", "", ""]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        fields += [""]  # hedgeType
        fields += [0, "", "", 0, 0]  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld, dncPresent
        fields += [""]  # algoStrategy
        fields += [0, 0, o.status, "", "", "", "", "", "", "", "", "", "", "", "", "", "", 0, 0]
        fields += [0]  # conditions count
        fields += ["", "", "", "", "", "", "", "", "", "", "", "", 0, 0, "", 0]  # adjustedOrderType .. usePriceMgmtAlgo
        fields += ["", "", 0]  # duration, postToAts, autoCancelParent
        fields += ["", "", "", "", ""]  # minTradeQty .. midOffsetAtHalf
        self.send(*fields)

    def cancel_order(self, f: list[str]) -> None:
        order_id = int(f[2])

        async def answer() -> None:
            order = self.world.orders.get((self.client_id or 0, order_id))
            if order is None or not order.is_open:
                self.error(order_id, 10147)
                return
            order.status = "Cancelled"
            self._send_order_status(order)

        self.spawn(answer())

    def req_open_orders(self, f: list[str]) -> None:
        async def answer() -> None:
            for (client_id, _), order in sorted(self.world.orders.items()):
                if order.is_open and (client_id == self.client_id or self.client_id == 0):
                    self._send_open_order(order)
                    self._send_order_status(order)
            self.send(OPEN_ORDER_END, 1)

        self.spawn(answer())
