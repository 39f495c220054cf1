-- Migration of machine "loan", written by `fsm generate` (source: src/loan.machine.ts).
-- Review it before `fsm migrate` applies it. Once applied, leave it as it is (`fsm migrate`
-- reports an applied file whose statements changed) and put further changes in a new file.
--
-- Table layout 2 -> 3: tables created by an earlier release gain these columns:
--   `fsm_loan`.`priority` INT NOT NULL DEFAULT 0
--   `fsm_loan`.`wait_message` VARCHAR(64) NULL
--   `fsm_loan`.`wait_key` VARCHAR(191) NULL
--   `fsm_loan`.`waiting_for` TEXT NULL
--   `fsm_loan`.`parent_machine` VARCHAR(48) NULL
--   `fsm_loan`.`parent_id` CHAR(36) CHARACTER SET ascii NULL
--   `fsm_loan`.`chained_from` VARCHAR(1024) NULL
--   `fsm_loan` KEY `ix_wait` (`wait_message`, `wait_key`)
--   `fsm_loan` KEY `ix_parent` (`parent_id`, `id`)
--   `fsm_loan` KEY `ix_claim` (`status`, `priority` DESC, `next_run_at`)
-- MySQL 8 has no ADD COLUMN IF NOT EXISTS: each ALTER runs only when information_schema says the
-- column (or index) is missing, so tables that `<machine>.sql` created at the new layout are left as they are.
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND COLUMN_NAME = 'priority'), 'ALTER TABLE `fsm_loan` ADD COLUMN `priority` INT NOT NULL DEFAULT 0', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND COLUMN_NAME = 'wait_message'), 'ALTER TABLE `fsm_loan` ADD COLUMN `wait_message` VARCHAR(64) NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND COLUMN_NAME = 'wait_key'), 'ALTER TABLE `fsm_loan` ADD COLUMN `wait_key` VARCHAR(191) NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND COLUMN_NAME = 'waiting_for'), 'ALTER TABLE `fsm_loan` ADD COLUMN `waiting_for` TEXT NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND COLUMN_NAME = 'parent_machine'), 'ALTER TABLE `fsm_loan` ADD COLUMN `parent_machine` VARCHAR(48) NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND COLUMN_NAME = 'parent_id'), 'ALTER TABLE `fsm_loan` ADD COLUMN `parent_id` CHAR(36) CHARACTER SET ascii NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND COLUMN_NAME = 'chained_from'), 'ALTER TABLE `fsm_loan` ADD COLUMN `chained_from` VARCHAR(1024) NULL', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND INDEX_NAME = 'ix_wait'), 'ALTER TABLE `fsm_loan` ADD KEY `ix_wait` (`wait_message`, `wait_key`)', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND INDEX_NAME = 'ix_parent'), 'ALTER TABLE `fsm_loan` ADD KEY `ix_parent` (`parent_id`, `id`)', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
SET @fsm_ddl = IF((SELECT COUNT(*) = 0 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fsm_loan' AND INDEX_NAME = 'ix_claim'), 'ALTER TABLE `fsm_loan` ADD KEY `ix_claim` (`status`, `priority` DESC, `next_run_at`)', 'DO 0');
PREPARE fsm_stmt FROM @fsm_ddl;
EXECUTE fsm_stmt;
DEALLOCATE PREPARE fsm_stmt;
UPDATE `fsm_loan` SET `next_run_at` = `updated_at` WHERE `status` = 'waiting' AND `next_run_at` IS NULL AND `waiting_for` IS NULL;
