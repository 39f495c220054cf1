-- Migration of machine "order", written by `fsm generate` (source: src/order.machine.ts).
-- Review it before `fsm migrate` applies it. Once applied, leave it as it is (`fsm migrate`
-- reports an applied file whose statements changed) and put further changes in a new file.
--
-- Definition fdcd750b5dc31dcc (version 1) -> 89d892e4ebc20a38 (version 1):
--   moved    ship: order 30 -> 40
--   moved    notify: order 40 -> 30
--   reordered: the steps now run reserveStock, charge, notify, ship
-- The tables keep their columns: a step is a value of `current_state`, not a column.
-- Instances still on the old definition: SELECT `id`, `status`, `current_state` FROM `fsm_order` WHERE `definition_hash` = 'fdcd750b5dc31dcc';

-- Renumbered steps: `resume_from_step` holds the order an instance continues from.
UPDATE `fsm_order` SET `resume_from_step` = 40 WHERE `current_state` = 'ship' AND `resume_from_step` = 30;
UPDATE `fsm_order` SET `resume_from_step` = 30 WHERE `current_state` = 'notify' AND `resume_from_step` = 40;

-- Reordered steps: an instance continues from its step, without the steps that now come before it:
--   at ship: notify will not run

-- The runtime refuses, with FSM_DEFINITION_CHANGED, unfinished instances at these states once
-- this file is applied (finished ones only when moved back or compensated):
--   notify: the steps it completed no longer all come before it, in the same order
-- SELECT `id`, `status`, `current_state`, `user_id` FROM `fsm_order` WHERE `status` NOT IN ('done', 'compensated') AND `current_state` IN ('notify');
-- What to do with them is a business decision: finish or compensate them with a deployment of
-- the old definition, or move them to a step of the new one.
