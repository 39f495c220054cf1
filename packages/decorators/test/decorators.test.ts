import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { Lock, Machine, Step, machineModelOf, type StepContext } from '../src/index.js';
import { METADATA_KEYS } from '../src/metadata.js';
import { OrderMachine, type OrderData } from './fixtures/order-machine.js';
import { graphDecoratorSuite } from './fixtures/graph-suite.js';
import { sharedDecoratorSuite } from './fixtures/shared-suite.js';

// This project compiles with legacy decorators (experimentalDecorators + emitDecoratorMetadata).
sharedDecoratorSuite();
graphDecoratorSuite();

describe('legacy decorators', () => {
  it('store their records on the constructor with reflect-metadata', () => {
    expect(Reflect.getOwnMetadataKeys(OrderMachine)).toEqual(
      expect.arrayContaining([METADATA_KEYS.machine, METADATA_KEYS.lock, METADATA_KEYS.steps]),
    );
    expect(Reflect.getOwnMetadata(METADATA_KEYS.machine, OrderMachine)).toStrictEqual({ name: 'order', topic: 'orders.fsm' });
    expect(Reflect.getOwnMetadata(METADATA_KEYS.lock, OrderMachine)).toStrictEqual({ scope: 'local', by: 'user' });
    expect(Reflect.getOwnMetadata(METADATA_KEYS.steps, OrderMachine)).toStrictEqual([
      { order: 1, method: 'reserveStock', options: { back: 'releaseStock' } },
      { order: 2, method: 'charge', options: { back: 'refund', retry: { maxAttempts: 3, backoffMs: 100, factor: 2 } } },
      { order: 3, method: 'ship', options: { name: 'shipped', immediate: false, timeoutMs: 5_000 } },
    ]);
  });

  it('coexist with emitDecoratorMetadata, which the compiler writes next to ours', () => {
    expect(Reflect.getMetadata('design:paramtypes', OrderMachine.prototype, 'reserveStock')).toEqual([Object]);
  });

  it('leave the methods themselves untouched', async () => {
    const data: OrderData = { orderId: 'o-1' };
    await new OrderMachine().reserveStock({ data } as StepContext<OrderData>);
    expect(data.reserved).toBe(true);
  });
});

describe('lock defaults', () => {
  it('locks a local machine per user unless told per type', () => {
    @Machine({ name: 'per_user' })
    @Lock('local')
    class PerUser {
      @Step(1) async go() {}
    }
    @Machine({ name: 'per_type' })
    @Lock('local', { by: 'type' })
    class PerType {
      @Step(1) async go() {}
    }
    expect(machineModelOf(PerUser).lock).toStrictEqual({ scope: 'local', by: 'user' });
    expect(machineModelOf(PerType).lock).toStrictEqual({ scope: 'local', by: 'type' });
  });

  it('has no key for a global lock and no lock without @Lock', () => {
    @Machine({ name: 'global_one' })
    @Lock('global', { by: 'user' })
    class GlobalOne {
      @Step(1) async go() {}
    }
    @Machine({ name: 'free' })
    class Free {
      @Step(1) async go() {}
    }
    expect(machineModelOf(GlobalOne).lock).toStrictEqual({ scope: 'global' });
    expect(machineModelOf(Free).lock).toStrictEqual({ scope: 'none' });
  });

  it('fills machine defaults and keeps the options it is given', () => {
    @Machine({ name: 'BillingRun', saveAfterStep: false, immediate: false, version: 3, onError: 'compensate' })
    class BillingRun {
      @Step(1) async bill() {}
    }
    expect(machineModelOf(BillingRun)).toMatchObject({
      name: 'billing_run',
      className: 'BillingRun',
      saveAfterStep: false,
      immediate: false,
      version: 3,
      onError: 'compensate',
    });
    expect(machineModelOf(BillingRun)).not.toHaveProperty('topic');
  });
});

describe('model problems are recorded, not thrown', () => {
  it('keeps duplicate and invalid orders for checkModel to report', () => {
    @Machine({ name: 'messy' })
    class Messy {
      @Step(1) async a() {}
      @Step(1) async b() {}
      @Step(0) async c() {}
    }
    expect(machineModelOf(Messy).steps.map((s) => [s.order, s.method])).toEqual([
      [0, 'c'],
      [1, 'a'],
      [1, 'b'],
    ]);
  });
});

describe('misuse that no model can hold throws a TypeError when the class is defined', () => {
  it('rejects @Step on a property or an accessor', () => {
    expect(() => {
      class WithField {
        // @ts-expect-error: a property decorator gets no descriptor, so the types refuse it too
        @Step(1) amount = 0;
      }
      return WithField;
    }).toThrow(/@Step\(1\) decorates methods, but "amount" is a property or accessor/);
    expect(() => {
      class WithGetter {
        @Step(1) get total() {
          return 0;
        }
      }
      return WithGetter;
    }).toThrow(/"total" is a property or accessor/);
  });

  it('rejects @Step on a static method', () => {
    expect(() => {
      class WithStatic {
        @Step(2) static async make() {}
      }
      return WithStatic;
    }).toThrow(/@Step\(2\) cannot mark static method "make"/);
  });

  it('rejects @Step on a symbol-named method', () => {
    const key = Symbol('hidden');
    expect(() => {
      class WithSymbol {
        @Step(1) async [key]() {}
      }
      return WithSymbol;
    }).toThrow(/needs a method with a string name, not Symbol\(hidden\)/);
  });

  it('rejects class decorators on members and @Step on a class', () => {
    expect(() => {
      class WrongPlace {
        // @ts-expect-error: @Machine is a class decorator
        @Machine({ name: 'x' }) async run() {}
      }
      return WrongPlace;
    }).toThrow(/@Machine decorates classes, but was applied to member "run"/);
    expect(() => {
      // @ts-expect-error: @Step is a method decorator
      @Step(1)
      class WholeClass {}
      return WholeClass;
    }).toThrow(/@Step\(1\) decorates methods, but was applied to class WholeClass/);
  });

  it('rejects @Machine without a name and a class marked twice', () => {
    // @ts-expect-error: name is required
    expect(() => Machine({})).toThrow(/@Machine needs an options object with a string name/);
    expect(() => {
      @Machine({ name: 'one' })
      @Machine({ name: 'two' })
      class Twice {}
      return Twice;
    }).toThrow(/Twice has two @Machine decorators/);
    expect(() => {
      @Lock('global')
      @Lock('local')
      class TwoLocks {}
      return TwoLocks;
    }).toThrow(/TwoLocks has two @Lock decorators/);
  });
});
