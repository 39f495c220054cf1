-- Migration of machine "order", written by `fsm generate` (source: src/order.machine.ts).
-- Review it before `fsm migrate` applies it. Once applied, leave it as it is (`fsm migrate`
-- reports an applied file whose statements changed) and put further changes in a new file.
--
-- Definition fdcd750b5dc31dcc (version 1) -> b7c2def9f4b466cb (version 2):
--   renamed  charge -> capture (order 20, method charge)
--   removed  ship (order 30, method ship)
-- The tables keep their columns: a step is a value of `current_state`, not a column.
-- Instances still on the old definition: SELECT `id`, `status`, `current_state` FROM `fsm_order` WHERE `definition_hash` = 'fdcd750b5dc31dcc';

-- Renamed step charge -> capture: instances at it follow the new name, and their history
-- names it so too, since the runtime checks the steps an instance completed against the new
-- definition. `state_before` and `state_after` keep the name the state had when the step ran.
UPDATE `fsm_order` SET `current_state` = 'capture' WHERE `current_state` = 'charge';
UPDATE `fsm_order_history` SET `step` = 'capture' WHERE `step` = 'charge';

-- The runtime refuses, with FSM_DEFINITION_CHANGED, unfinished instances at these states once
-- this file is applied (finished ones only when moved back or compensated):
--   ship: the step was removed
--   notify: it completed ship, which the new definition does not have
-- SELECT `id`, `status`, `current_state`, `user_id` FROM `fsm_order` WHERE `status` NOT IN ('done', 'compensated') AND `current_state` IN ('ship', 'notify');
-- What to do with them is a business decision: finish or compensate them with a deployment of
-- the old definition, or move them to a step of the new one.
-- To move the instances at ship on to notify (the step that now follows it), uncomment:
-- UPDATE `fsm_order` SET `current_state` = 'notify', `resume_from_step` = 40 WHERE `current_state` = 'ship' AND `status` NOT IN ('done', 'compensated');
