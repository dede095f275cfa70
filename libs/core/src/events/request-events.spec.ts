import { WaitSlot, WaitSlots } from './request-events';

const slot = (taken: ReturnType<WaitSlots['take']>): WaitSlot => {
  if (!('release' in taken)) throw new Error(`refused: retry after ${taken.retryAfterSeconds}s`);
  return taken;
};

describe('WaitSlots: long-polls held per agent', () => {
  it('grants up to the cap, then refuses until the soonest hold could run out', () => {
    const slots = new WaitSlots(2);
    slot(slots.take('a', 0, 30_000));
    slot(slots.take('a', 0, 12_300));
    expect(slots.take('a', 1_000, 50_000)).toEqual({ retryAfterSeconds: 12 });
    // Another agent has slots of its own.
    slot(slots.take('b', 1_000, 5_000));
  });

  it('a released hold frees its slot; releasing twice frees only one', () => {
    const slots = new WaitSlots(2);
    const first = slot(slots.take('a', 0, 10_000));
    slot(slots.take('a', 0, 10_000));
    first.release();
    first.release();
    slot(slots.take('a', 0, 10_000));
    expect(slots.take('a', 0, 10_000)).toEqual({ retryAfterSeconds: 10 });
  });

  it('never asks for less than one second, even for a hold already past its time', () => {
    const slots = new WaitSlots(1);
    slot(slots.take('a', 0, 500));
    expect(slots.take('a', 2_000, 10_000)).toEqual({ retryAfterSeconds: 1 });
  });

  it('holds with the same deadline are counted apart', () => {
    const slots = new WaitSlots(3);
    const held = [slot(slots.take('a', 0, 1_000)), slot(slots.take('a', 0, 1_000)), slot(slots.take('a', 0, 1_000))];
    expect('retryAfterSeconds' in slots.take('a', 0, 1_000)).toBe(true);
    for (const hold of held) hold.release();
    for (let i = 0; i < 3; i++) slot(slots.take('a', 0, 1_000));
  });
});
