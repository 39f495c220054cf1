-- Migration of machine "order", written by `fsm generate` (source: src/order.machine.ts).
-- Review it before `fsm migrate` applies it. Once applied, leave it as it is (`fsm migrate`
-- reports an applied file whose statements changed) and put further changes in a new file.
--
-- Definition fdcd750b5dc31dcc (version 1) -> cafc6249ee30e894 (version 1):
--   renamed  charge -> capture (order 20, method charge)
-- The tables keep their columns: a step is a value of `current_state`, not a column.
-- Instances still on the old definition: SELECT `id`, `status`, `current_state` FROM `fsm_order` WHERE `definition_hash` = 'fdcd750b5dc31dcc';

-- Renamed step charge -> capture: instances at it follow the new name, and their history
-- names it so too, since the runtime checks the steps an instance completed against the new
-- definition. `state_before` and `state_after` keep the name the state had when the step ran.
UPDATE `fsm_order` SET `current_state` = 'capture' WHERE `current_state` = 'charge';
UPDATE `fsm_order_history` SET `step` = 'capture' WHERE `step` = 'charge';
