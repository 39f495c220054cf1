-- Migration of machine "order", written by `fsm generate` (source: src/order.machine.ts).
-- Review it before `fsm migrate` applies it. Once applied, leave it as it is (`fsm migrate`
-- reports an applied file whose statements changed) and put further changes in a new file.
--
-- Table layout 1 -> 2: tables created by an earlier release gain these columns:
--   `fsm_order`.`takeovers` INT NOT NULL DEFAULT 0
--   `fsm_order_history`.`transition` VARCHAR(64) NULL
--   `fsm_order_history`.`actor` VARCHAR(191) NULL
--   `fsm_order_history`.`result` TEXT NULL
-- MySQL 8 has no ADD COLUMN IF NOT EXISTS: each ALTER runs only when information_schema says the
-- column is missing, so tables that `<machine>.sql` created at the new layout are left as they are.
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_order' AND COLUMN_NAME = 'takeovers'), 'ALTER TABLE `fsm_order` ADD COLUMN `takeovers` INT NOT NULL DEFAULT 0', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_order_history' AND COLUMN_NAME = 'transition'), 'ALTER TABLE `fsm_order_history` ADD COLUMN `transition` VARCHAR(64) NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_order_history' AND COLUMN_NAME = 'actor'), 'ALTER TABLE `fsm_order_history` ADD COLUMN `actor` VARCHAR(191) NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_order_history' AND COLUMN_NAME = 'result'), 'ALTER TABLE `fsm_order_history` ADD COLUMN `result` TEXT NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
