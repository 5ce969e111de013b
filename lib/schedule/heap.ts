/** An item the heap can hold: it carries its key and its own position, so removal is O(log n). */
export interface HeapItem {
  due: number;
  heapIndex: number; // -1 when not in a heap
}

/** Binary min-heap on `due`, with O(log n) update and delete of any item. */
export class MinHeap<T extends HeapItem> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item;
  }

  /** Insert the item, or move it to where its (changed) `due` belongs. */
  set(item: T): void {
    if (this.has(item)) {
      this.up(item.heapIndex);
      this.down(item.heapIndex);
      return;
    }
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  delete(item: T): boolean {
    if (!this.has(item)) return false;
    const i = item.heapIndex;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last !== item) {
      this.items[i] = last;
      last.heapIndex = i;
      this.up(i);
      this.down(last.heapIndex);
    }
    return true;
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.delete(top);
    return top;
  }

  private swap(i: number, j: number): void {
    const a = this.items[i]!;
    const b = this.items[j]!;
    this.items[i] = b;
    this.items[j] = a;
    a.heapIndex = j;
    b.heapIndex = i;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.items[parent]!.due <= this.items[i]!.due) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < n && this.items[l]!.due < this.items[min]!.due) min = l;
      if (r < n && this.items[r]!.due < this.items[min]!.due) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }
}
